/**
 * The real daemon (`node dist/daemon/main.js`) on a short temp BTFD_HOME, driven by the real
 * client: autostart, one daemon per home under races, stale sockets, the handshake, signals and
 * idle exit.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { connectDaemon, isNotRunning, waitForExit, type ConnectOptions } from '../../client/connect.js';
import { requestHello } from '../../client/daemon-client.js';
import { resolveConfig, type Config, type ConfigFlags } from '../../shared/config.js';
import { BtfdError } from '../../shared/errors.js';
import { PROTOCOL_VERSION } from '../../shared/version.js';
import { readLogLines } from '../helpers/daemon-home.js';

const DIST_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DAEMON_MAIN = path.join(DIST_ROOT, 'daemon', 'main.js');
const CONNECT_MODULE = new URL('../../client/connect.js', import.meta.url).href;
const CONFIG_MODULE = new URL('../../shared/config.js', import.meta.url).href;
const DAEMON_START_MS = 15_000;

interface Home {
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  config(flags?: ConfigFlags): Config;
  /** Options for connectDaemon that spawn this home's daemon with this home's env. */
  connect(extra?: Partial<ConnectOptions>): ConnectOptions;
  /** Pids to kill if the test leaves them behind. */
  readonly pids: Set<number>;
  logLines(): Array<Record<string, unknown>>;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A private BTFD_HOME under /tmp (short: socket paths are limited to 107 bytes). */
function tempHome(t: TestContext): Home {
  const dir = fs.mkdtempSync('/tmp/btfd-');
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('BTFD_')));
  env['BTFD_HOME'] = dir;
  const pids = new Set<number>();
  const home: Home = {
    dir,
    env,
    pids,
    config: (flags = {}) => resolveConfig({ env: { BTFD_HOME: dir }, flags }),
    connect: (extra = {}) => ({ autostart: true, env, startTimeoutMs: DAEMON_START_MS, ...extra }),
    logLines: () => readLogLines(path.join(dir, 'state', 'btfd.log')),
  };
  t.after(async () => {
    // Stop whatever daemon still runs for this home, then remove it.
    try {
      pids.add((await requestHello(home.config().socketPath, 1000)).pid);
    } catch {
      // none answering
    }
    for (const pid of listeningPids(home)) if (typeof pid === 'number') pids.add(pid);
    for (const pid of pids) {
      if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
      await waitForExit(pid, 5000);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return home;
}

/** Daemons that logged "daemon listening" in this home's log, by pid. */
function listeningPids(home: Home): Set<unknown> {
  return new Set(home.logLines().filter((line) => line['msg'] === 'daemon listening').map((line) => line['pid']));
}

/** Spawn `node dist/daemon/main.js` directly (to observe its exit code). */
function spawnDaemon(home: Home, extraEnv: NodeJS.ProcessEnv = {}, main = DAEMON_MAIN): ChildProcess & { result: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn(process.execPath, [main], { env: { ...home.env, ...extraEnv }, stdio: ['ignore', 'ignore', 'pipe'] });
  if (child.pid !== undefined) home.pids.add(child.pid);
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
  const result = new Promise<{ code: number | null; stderr: string }>((resolve) => {
    child.once('exit', (code) => resolve({ code, stderr }));
  });
  return Object.assign(child, { result });
}

async function waitForHello(socketPath: string, timeoutMs = DAEMON_START_MS): Promise<Awaited<ReturnType<typeof requestHello>>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await requestHello(socketPath, 1000);
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(50);
    }
  }
}

test('autostart starts one daemon on a 0600 socket in 0700 dirs; a second daemon on the home exits 3', async (t) => {
  const home = tempHome(t);
  const config = home.config();
  const client = await connectDaemon(config, home.connect());
  home.pids.add(client.identity.pid);
  assert.ok(pidAlive(client.identity.pid));
  assert.equal(client.identity.protocolVersion, PROTOCOL_VERSION);
  assert.deepEqual(client.notes, []);
  assert.equal(fs.statSync(config.socketPath).mode & 0o777, 0o600);
  assert.ok(fs.statSync(config.socketPath).isSocket());
  for (const dir of [config.runtimeDir, config.cacheDir, config.stateDir]) assert.equal(fs.statSync(dir).mode & 0o777, 0o700, dir);

  const second = spawnDaemon(home);
  const { code, stderr } = await second.result;
  assert.equal(code, 3);
  assert.match(stderr, /BTFD_ERR_DAEMON_ALREADY_RUNNING/);
  const refused = home.logLines().find((line) => line['msg'] === 'daemon lock not acquired');
  assert.equal(refused?.['code'], 'BTFD_ERR_DAEMON_ALREADY_RUNNING');
  assert.equal(refused?.['pid'], second.pid);

  assert.equal((await client.hello()).pid, client.identity.pid, 'the first daemon still serves');
  assert.equal((await client.status()).socketPath, config.socketPath);
});

test('after SIGKILL the stale socket is detected and the next autostarting call starts a new daemon', async (t) => {
  const home = tempHome(t);
  const config = home.config();
  const first = await connectDaemon(config, home.connect());
  const oldPid = first.identity.pid;
  home.pids.add(oldPid);
  process.kill(oldPid, 'SIGKILL');
  assert.ok(await waitForExit(oldPid, 5000));
  assert.ok(fs.existsSync(config.socketPath), 'a killed daemon leaves its socket file behind');

  await assert.rejects(connectDaemon(config, { autostart: false }), (err) => {
    assert.ok(isNotRunning(err), String(err));
    return true;
  });

  const second = await connectDaemon(config, home.connect());
  home.pids.add(second.identity.pid);
  assert.notEqual(second.identity.pid, oldPid);
  assert.equal((await second.hello()).pid, second.identity.pid);
  assert.ok(home.logLines().some((line) => line['msg'] === 'stale socket from a dead daemon removed' && line['pid'] === second.identity.pid));
});

test('50 concurrent autostarting connects in one process start exactly one daemon', async (t) => {
  const home = tempHome(t);
  const config = home.config();
  const clients = await Promise.all(Array.from({ length: 50 }, () => connectDaemon(config, home.connect())));
  const pids = new Set(clients.map((client) => client.identity.pid));
  for (const pid of pids) home.pids.add(pid);
  assert.equal(pids.size, 1, `pids: ${[...pids].join(', ')}`);
  assert.deepEqual([...listeningPids(home)], [...pids]);
});

test('12 client processes autostarting at once start exactly one daemon', async (t) => {
  const home = tempHome(t);
  const script = `
    const { connectDaemon } = await import(${JSON.stringify(CONNECT_MODULE)});
    const { resolveConfig } = await import(${JSON.stringify(CONFIG_MODULE)});
    const config = resolveConfig({ env: process.env });
    const client = await connectDaemon(config, { autostart: true, startTimeoutMs: ${DAEMON_START_MS} });
    process.stdout.write(String(client.identity.pid));
  `;
  const runs = Array.from({ length: 12 }, () => new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: home.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { out += chunk; });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { err += chunk; });
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`client exited ${code}: ${err}`))));
  }));
  const pids = new Set((await Promise.all(runs)).map(Number));
  for (const pid of pids) home.pids.add(pid);
  assert.equal(pids.size, 1, `pids: ${[...pids].join(', ')}`);
  assert.deepEqual([...listeningPids(home)], [...pids]);
});

/** A copy of this build whose PROTOCOL_VERSION is `version`: a daemon from another release. */
function otherProtocolBuild(t: TestContext, version: number): string {
  const root = fs.mkdtempSync('/tmp/btfd-old-');
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  for (const part of ['daemon', 'shared']) fs.cpSync(path.join(DIST_ROOT, part), path.join(root, 'dist', part), { recursive: true });
  fs.writeFileSync(path.join(root, 'package.json'), '{"type":"module"}\n');
  fs.symlinkSync(fileURLToPath(new URL('../../../node_modules', import.meta.url)), path.join(root, 'node_modules'));
  const versionFile = path.join(root, 'dist', 'shared', 'version.js');
  const source = fs.readFileSync(versionFile, 'utf8');
  const patched = source.replace(/PROTOCOL_VERSION = \d+/, `PROTOCOL_VERSION = ${version}`);
  assert.notEqual(patched, source, 'version.js has the PROTOCOL_VERSION constant');
  fs.writeFileSync(versionFile, patched);
  return path.join(root, 'dist', 'daemon', 'main.js');
}

test('a daemon speaking another protocol version is stopped and replaced, and the note says why', async (t) => {
  const home = tempHome(t);
  const config = home.config();
  const old = spawnDaemon(home, {}, otherProtocolBuild(t, PROTOCOL_VERSION + 100));
  const oldHello = await waitForHello(config.socketPath);
  assert.equal(oldHello.protocolVersion, PROTOCOL_VERSION + 100);

  const client = await connectDaemon(config, home.connect());
  home.pids.add(client.identity.pid);
  assert.equal(client.identity.protocolVersion, PROTOCOL_VERSION);
  assert.notEqual(client.identity.pid, oldHello.pid);
  assert.equal(client.notes.length, 1);
  assert.match(client.notes[0] ?? '', new RegExp(`protocol version ${PROTOCOL_VERSION + 100}, this client speaks ${PROTOCOL_VERSION}`));
  const { code } = await old.result;
  assert.equal(code, 0, 'the old daemon stopped cleanly on request');
});

test('per-command settings never stop the shared daemon; a restart waits until the new settings are checked', async (t) => {
  const home = tempHome(t);
  const one = await connectDaemon(home.config({ workers: 1 }), home.connect());
  const pid = one.identity.pid;
  home.pids.add(pid);
  assert.equal((await one.status()).pool.size, 1);

  // Another pool size: a note, not a restart (it is the daemon's process setting).
  const two = await connectDaemon(home.config({ workers: 2 }), home.connect());
  assert.equal(two.identity.pid, pid);
  assert.match(two.notes.join('\n'), /the running daemon \(pid \d+\) has workers 1; 2 applies to a daemon started with it/);
  // Another pahole, even the same binary by another path: it travels with requests instead.
  const paholeDir = path.dirname(fs.realpathSync('/usr/bin/pahole'));
  const other = await connectDaemon(home.config({ pahole: path.join(paholeDir, '..', path.basename(paholeDir), 'pahole') }), home.connect());
  assert.equal(other.identity.pid, pid);
  assert.deepEqual(other.notes, []);
  // The same home through a symlink is the same daemon.
  const link = `${home.dir}-link`;
  fs.symlinkSync(home.dir, link);
  t.after(() => fs.rmSync(link, { force: true }));
  const viaLink = await connectDaemon(resolveConfig({ env: { BTFD_HOME: link } }), home.connect());
  assert.equal(viaLink.identity.pid, pid);

  // A daemon that truly differs (another release) is only stopped once its successor would start:
  // settings the new daemon refuses leave the old one serving.
  await assert.rejects(
    connectDaemon(home.config({ pahole: '/etc/passwd' }), home.connect({ expect: { protocolVersion: PROTOCOL_VERSION + 1 } })),
    { code: 'BTFD_ERR_TOOL_PAHOLE_INVALID' },
  );
  assert.ok(pidAlive(pid), 'the running daemon was not stopped for settings that do not work');
  assert.equal((await one.hello()).pid, pid);

  // Without autostart a mismatch is reported, not acted on.
  const look = await connectDaemon(home.config(), { autostart: false, expect: { cacheDir: '/elsewhere' } });
  assert.match(look.mismatch ?? '', /its cache dir is .*, this client's is \/elsewhere/);
  assert.equal(look.identity.pid, pid);

  // A client of another protocol version: every daemon it can start still differs.
  await assert.rejects(
    connectDaemon(home.config(), home.connect({ expect: { protocolVersion: PROTOCOL_VERSION + 1 }, maxRestarts: 1 })),
    (err) => {
      assert.ok(err instanceof BtfdError);
      assert.equal(err.code, 'BTFD_ERR_DAEMON_VERSION_MISMATCH');
      assert.match(err.message, /after 1 restart/);
      return true;
    },
  );
  assert.equal(pidAlive(pid), false, 'it did stop the daemon it disagreed with');
});

test('a pahole that is not pahole is refused with a code: no daemon starts on it, a request naming it fails', async (t) => {
  const home = tempHome(t);
  const config = home.config();
  for (const [pahole, pattern] of [['/etc/passwd', /not an executable/], ['/bin/echo', /is not pahole: .*printed "/]] as const) {
    const refused = spawnDaemon(home, { BTFD_PAHOLE: pahole });
    const { code, stderr } = await refused.result;
    assert.equal(code, 2, stderr);
    assert.match(stderr, /BTFD_ERR_TOOL_PAHOLE_INVALID/);
    assert.match(stderr, pattern);
    await assert.rejects(connectDaemon(home.config({ pahole }), home.connect()), { code: 'BTFD_ERR_TOOL_PAHOLE_INVALID' });
    await assert.rejects(requestHello(config.socketPath, 1000), (err) => isNotRunning(err));
  }
  // A missing default `pahole` is not a reason to refuse: requests may name their own.
  const noPath = spawnDaemon(home, { PATH: '/nonexistent' });
  const hello = await waitForHello(config.socketPath);
  assert.equal(hello.pid, noPath.pid);
  const status = await (await connectDaemon(config, { autostart: false })).status();
  assert.equal(status.pahole.error?.code, 'BTFD_ERR_TOOL_PAHOLE_MISSING');
});

test('SIGTERM drains and exits 143 with the socket removed; SIGINT exits 130', async (t) => {
  const home = tempHome(t);
  const config = home.config();
  for (const [signal, expected] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
    const daemon = spawnDaemon(home);
    await waitForHello(config.socketPath);
    daemon.kill(signal);
    const { code, stderr } = await daemon.result;
    assert.equal(code, expected, stderr);
    assert.equal(fs.existsSync(config.socketPath), false);
    assert.ok(home.logLines().some((line) => line['msg'] === 'shutdown complete' && line['reason'] === `signal ${signal}` && line['pid'] === daemon.pid));
  }
});

test('the daemon exits 0 after BTFD_IDLE_TIMEOUT_MS without requests', async (t) => {
  const home = tempHome(t);
  const config = home.config();
  const daemon = spawnDaemon(home, { BTFD_IDLE_TIMEOUT_MS: '600' });
  await waitForHello(config.socketPath);
  const helloAt = Date.now();
  const { code } = await daemon.result;
  const idleMs = Date.now() - helloAt;
  assert.equal(code, 0);
  assert.ok(idleMs >= 500 && idleMs < 10_000, `exited after ${idleMs} ms`);
  assert.equal(fs.existsSync(config.socketPath), false);
  assert.ok(home.logLines().some((line) => line['msg'] === 'idle timeout reached' && line['pid'] === daemon.pid));
});
