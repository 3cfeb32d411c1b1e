/**
 * Cancellation through the real daemon: a client that hangs up on its build (the HTTP stream
 * closing, or Ctrl-C on `btfd build`) stops the build's queued modules; modules in flight finish
 * and are installed whole. Ten real Debian modules with one worker, so a cold build is slow
 * enough to be caught in the middle.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { chmod, cp, readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectDaemon, waitForExit } from '../../client/connect.js';
import type { DaemonClient } from '../../client/daemon-client.js';
import { resolveConfig, type Config } from '../../shared/config.js';
import { readSections } from '../../daemon/elf/elf-file.js';
import { CLI } from '../helpers/cli-harness.js';
import { DEBIAN_61_DATA } from '../helpers/test-data.js';

const FLAGS = '--btf_gen_floats -j --lang_exclude=rust';
const BASE = path.join(DEBIAN_61_DATA, 'vmlinux.btf');

interface Setup {
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  readonly config: Config;
  readonly tree: string;
  readonly modules: readonly string[];
}

/** A home with a one-worker daemon's settings, and a private copy of the ten modules. */
async function setup(t: TestContext): Promise<Setup> {
  const dir = fs.mkdtempSync('/tmp/btfd-c-');
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('BTFD_')));
  env['BTFD_HOME'] = path.join(dir, 'h');
  env['BTFD_WORKERS'] = '1';
  const config = resolveConfig({ env });
  const tree = path.join(dir, 'tree');
  await cp(path.join(DEBIAN_61_DATA, 'kernel'), tree, { recursive: true });
  await chmod(tree, 0o755);
  const modules = fs.readdirSync(tree, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ko')).map((e) => path.join(e.parentPath, e.name)).sort();
  for (const module of modules) await chmod(module, 0o644);
  t.after(async () => {
    try {
      const client = await connectDaemon(config, { autostart: false });
      process.kill(client.identity.pid, 'SIGKILL');
      await waitForExit(client.identity.pid, 5000);
    } catch {
      // no daemon left
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { dir, env, config, tree, modules };
}

/** Poll until `check` holds (bounded). */
async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** The daemon logged the end of a cancelled build: everything it will do for it is done. */
function cancelledInLog(config: Config): boolean {
  return fs.existsSync(config.logPath) && fs.readFileSync(config.logPath, 'utf8').split('\n').some((line) => line.includes('"msg":"build cancelled"'));
}

/** What the cancelled build left: every module whole, and how many pahole encoded. */
async function afterCancel(s: Setup, client: DaemonClient, originals: readonly Buffer[]): Promise<number> {
  await waitFor('the daemon to log the cancelled build', () => cancelledInLog(s.config));
  const stats = await client.cacheStats();
  assert.ok(stats.misses < s.modules.length, `queued modules were dropped (${stats.misses} of ${s.modules.length} regenerated)`);
  let changed = 0;
  for (const [i, module] of s.modules.entries()) {
    const bytes = await readFile(module);
    if (bytes.equals(originals[i]!)) continue;
    changed++;
    assert.ok((await readSections(module, ['.BTF'])).get('.BTF')!.length > 0, `${module} was installed whole`);
  }
  assert.ok(changed <= stats.misses, 'only modules whose work finished were written');
  return stats.misses;
}

test('closing the HTTP build stream cancels the build: queued modules are dropped, those in flight finish', async (t) => {
  const s = await setup(t);
  const client = await connectDaemon(s.config, { autostart: true, env: s.env });
  const originals = await Promise.all(s.modules.map((m) => readFile(m)));
  const body = JSON.stringify({ dir: s.tree, base: BASE, paholeFlags: FLAGS });
  await new Promise<void>((resolve, reject) => {
    const request = http.request({
      socketPath: s.config.socketPath, method: 'POST', path: '/v1/build',
      headers: { 'content-type': 'application/json', accept: 'application/x-ndjson' },
    }, (response) => {
      let buffer = '';
      response.setEncoding('utf8').on('data', (chunk: string) => {
        buffer += chunk;
        // The first module done: hang up, as an IDE closing the stream would.
        if (buffer.split('\n').some((line) => line.startsWith('{"type":"module"'))) {
          request.destroy();
          resolve();
        }
      });
    });
    request.on('error', () => undefined);
    request.on('close', () => resolve());
    request.end(body);
    setTimeout(() => reject(new Error('no module event within 60 s')), 60_000).unref();
  });
  const regenerated = await afterCancel(s, client, originals);
  assert.ok(regenerated >= 1, 'the module in flight when the stream closed finished');
  assert.equal((await client.hello()).pid, client.identity.pid, 'the daemon keeps serving');
});

test('Ctrl-C on btfd build cancels its queued work in the daemon and exits 130', async (t) => {
  const s = await setup(t);
  const originals = await Promise.all(s.modules.map((m) => readFile(m)));
  const cli = spawn(process.execPath, [CLI, 'build', s.tree, '--base', BASE, '--pahole-flags', FLAGS], { env: s.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  cli.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
  const exited = new Promise<number | null>((resolve) => cli.once('exit', (code) => resolve(code)));
  // The daemon this command started is encoding a module: the build is under way.
  const client = await waitFor('the daemon to start', () => connectDaemon(s.config, { autostart: false }).catch(() => undefined));
  await waitFor('pahole to run', async () => (await client.status()).pool.busy > 0);
  cli.kill('SIGINT');
  assert.equal(await exited, 130, stderr);
  assert.match(stderr, /btfd: build cancelled: modules in flight finish in the daemon, queued ones were dropped/);
  await afterCancel(s, client, originals);
});
