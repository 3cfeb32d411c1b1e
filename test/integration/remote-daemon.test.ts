/**
 * The remote cache through the daemon and the CLI, as a team sets it up: BTFD_REMOTE_CACHE in the
 * environment, https with a private CA (NODE_EXTRA_CA_CERTS) and Basic auth on nginx, a Redis
 * password in BTFD_REMOTE_CACHE_TOKEN. Credentials never appear in a log, a status, the cache
 * figures or a daemon's command line; `btfd stop` waits for pending uploads; status shows the
 * breaker; explain names the tier.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test, type TestContext } from 'node:test';
import type { StatusResponse } from '../../shared/protocol/status.js';
import { createFixtureKernel } from '../fixtures/fixture-kernel.js';
import { runCli, type CliResult } from '../helpers/cli-harness.js';
import { startNginx, startRedis } from '../helpers/remote-servers.js';

/** Every file under `dir`, read as text (logs, databases, configs): where a secret must not be. */
function filesContaining(dir: string, needle: string): string[] {
  const found: string[] = [];
  const walk = (at: string) => {
    for (const entry of fs.readdirSync(at, { withFileTypes: true })) {
      const file = path.join(at, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (entry.isFile() && fs.readFileSync(file).includes(needle)) found.push(file);
    }
  };
  walk(dir);
  return found;
}

/**
 * A team's dir: homes under it, each with its CLI. After the test every home's daemon is stopped
 * first, then the dir is removed (a daemon whose home is gone could no longer be asked to stop).
 */
function teamDir(t: TestContext) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'btfd-team-'));
  const homes: Record<string, string>[] = [];
  t.after(async () => {
    await Promise.all(homes.map((env) => runCli(['stop'], env)));
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return {
    dir,
    /** The CLI of home `name`, with its environment. */
    home(name: string, env: Record<string, string>) {
      const homeEnv = { ...env, BTFD_HOME: path.join(dir, name), BTFD_IDLE_TIMEOUT_MS: '0' };
      homes.push(homeEnv);
      const outputs: CliResult[] = [];
      const run = async (...args: string[]): Promise<CliResult> => {
        const result = await runCli(args, homeEnv);
        outputs.push(result);
        return result;
      };
      return {
        run,
        outputs,
        async status(): Promise<StatusResponse> {
          const result = await run('status', '--json');
          assert.equal(result.code, 0, result.stderr);
          return JSON.parse(result.stdout) as StatusResponse;
        },
      };
    },
  };
}

function json(result: CliResult): Record<string, number> {
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as Record<string, number>;
}

test('https + Basic auth through the daemon: homes share work; no credential in logs, status, figures or argv', async (t) => {
  const secret = `s3cret-${randomBytes(6).toString('hex')}`;
  const wrong = `wr0ng-${randomBytes(6).toString('hex')}`;
  const server = await startNginx(t, { tls: true, basicAuth: { user: 'ci', password: secret }, prefix: '/btfd' });
  assert.ok(server.url.startsWith('https://ci:') && server.url.includes(secret));
  const team = teamDir(t);
  const dir = team.dir;
  const env = { BTFD_REMOTE_CACHE: server.url, NODE_EXTRA_CA_CERTS: server.certificate! };
  const a = team.home('a', env);
  const kernelA = await createFixtureKernel(path.join(dir, 'ka'));
  const n = kernelA.modules.length;

  assert.equal(json(await a.run('build', kernelA.dir, '--json')).regenerated, n);
  const status = await a.status();
  assert.equal(status.cache?.remote?.location, `https://127.0.0.1:${server.port}/btfd`);
  assert.equal(status.cache?.remote?.breaker.state, 'closed');
  const cmdline = fs.readFileSync(`/proc/${status.pid}/cmdline`, 'utf8');
  assert.ok(!cmdline.includes(secret), `the daemon's command line is readable by every user: ${cmdline}`);
  assert.match((await a.run('status')).stdout, /remote {3}https:\/\/127\.0\.0\.1:\d+\/btfd \(http, read-write\); breaker closed/);
  assert.match((await a.run('cache', 'stats')).stdout, new RegExp(`^remote {3}0 hits, ${n} misses, 0 errors, .* written$`, 'm'));
  assert.equal((await a.run('stop')).code, 0);
  assert.equal((await server.list('cas')).length, n, 'every artifact reached the server before the daemon exited');

  const b = team.home('b', env);
  const kernelB = await createFixtureKernel(path.join(dir, 'kb'));
  assert.equal(json(await b.run('build', kernelB.dir, '--json')).restored, n);
  assert.match((await b.run('explain', kernelB.modules[0]!)).stdout, /cache {4}has an artifact for this key \(local tier\)/, 'written back');
  const c = team.home('c', env);
  const explain = await c.run('explain', (await createFixtureKernel(path.join(dir, 'kc'))).modules[0]!, '--no-daemon');
  assert.match(explain.stdout, /verdict {2}restore: cached remotely \(first build\)\n {2}cache {4}has an artifact for this key \(remote tier\)/);
  const figures = JSON.parse((await b.run('cache', 'stats', '--json')).stdout) as { tiers: { tier: string; hits: number }[] };
  assert.deepEqual(figures.tiers.map((tier) => [tier.tier, tier.hits]), [['local', 0], ['remote', n]]);

  // A wrong password costs nothing but the remote: the build succeeds, status says why.
  const w = team.home('w', { ...env, BTFD_REMOTE_CACHE: server.url.replace(secret, wrong) });
  assert.equal(json(await w.run('build', (await createFixtureKernel(path.join(dir, 'kw'))).dir, '--json')).regenerated, n);
  const refused = await w.status();
  assert.equal(refused.cache?.remote?.breaker.lastError?.code, 'BTFD_ERR_REMOTE_AUTH');
  await w.run('stop');

  for (const needle of [secret, wrong]) {
    assert.deepEqual(filesContaining(dir, needle), [], `${needle} is in no file of any home`);
    for (const out of [...a.outputs, ...b.outputs, ...c.outputs, ...w.outputs]) assert.ok(!out.stdout.includes(needle) && !out.stderr.includes(needle));
  }
});

test('Redis with a password: btfd stop waits for pending uploads; a dead server shows as an open breaker', async (t) => {
  const secret = `r3dis-${randomBytes(6).toString('hex')}`;
  const server = await startRedis(t, { password: secret });
  const url = `redis://127.0.0.1:${server.port}`;
  const team = teamDir(t);
  const dir = team.dir;
  const env = { BTFD_REMOTE_CACHE: url, BTFD_REMOTE_CACHE_TOKEN: secret, BTFD_REMOTE_TIMEOUT_MS: '15000' };
  const a = team.home('a', env);
  const kernel = await createFixtureKernel(path.join(dir, 'ka'));
  const n = kernel.modules.length;
  assert.equal((await a.run('start')).code, 0);

  // Writes wait (reads do not) until the test lets them go: the build's uploads are pending.
  const redis = server.client();
  await redis.call('CLIENT', 'PAUSE', '60000', 'WRITE');
  assert.equal(json(await a.run('build', kernel.dir, '--json')).regenerated, n);
  const pending = (await a.status()).cache!.remote!.uploads;
  assert.equal(pending.queued + pending.running, n, `uploads pending at stop: ${JSON.stringify(pending)}`);
  const logFile = path.join(dir, 'a', 'state', 'btfd.log');
  const stopping = a.run('stop');
  const deadline = Date.now() + 20_000;
  while (!fs.readFileSync(logFile, 'utf8').includes('waiting for remote uploads') && Date.now() < deadline) await sleep(50);
  assert.deepEqual((await server.list('ac')).length, 0, 'nothing written yet');
  await redis.call('CLIENT', 'UNPAUSE');
  const stop = await stopping;
  assert.equal(stop.code, 0, stop.stderr);
  assert.deepEqual([(await server.list('ac')).length, (await server.list('cas')).length], [n, n], 'stop drained every upload');
  assert.match(fs.readFileSync(logFile, 'utf8'), /remote uploads drained/);

  await server.kill();
  const b = team.home('b', { ...env, BTFD_REMOTE_TIMEOUT_MS: '1000' });
  assert.equal(json(await b.run('build', (await createFixtureKernel(path.join(dir, 'kb'))).dir, '--json')).regenerated, n, 'the build does not need the remote');
  assert.match((await b.run('status')).stdout, /breaker OPEN until .* after \d+ failures \(last: BTFD_ERR_REMOTE_(UNREACHABLE|TIMEOUT)/);
  assert.deepEqual(filesContaining(dir, secret), []);
});

test('rediss:// with a private CA (NODE_EXTRA_CA_CERTS): a second home restores the tree over TLS', async (t) => {
  const server = await startRedis(t, { tls: true });
  assert.ok(server.url.startsWith('rediss://'));
  const team = teamDir(t);
  const dir = team.dir;
  const env = { BTFD_REMOTE_CACHE: server.url, NODE_EXTRA_CA_CERTS: server.certificate! };
  const a = team.home('a', env);
  const n = json(await a.run('build', (await createFixtureKernel(path.join(dir, 'ka'))).dir, '--json')).regenerated!;
  assert.equal((await a.run('stop')).code, 0);
  assert.equal((await server.list('cas')).length, n);
  const b = team.home('b', env);
  assert.equal(json(await b.run('build', (await createFixtureKernel(path.join(dir, 'kb'))).dir, '--json')).restored, n);
  // Without the CA the certificate is not trusted: the remote fails, the build does not.
  const c = team.home('c', { BTFD_REMOTE_CACHE: server.url });
  assert.equal(json(await c.run('build', (await createFixtureKernel(path.join(dir, 'kc'))).dir, '--json')).regenerated, n);
  assert.match((await c.status()).cache?.remote?.breaker.lastError?.code ?? '', /^BTFD_ERR_REMOTE_(UNREACHABLE|TIMEOUT)$/);
});
