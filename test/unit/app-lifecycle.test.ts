/**
 * The daemon's lifecycle pieces in process: idle timer, the one shutdown function, the home
 * lock, and runDaemon() with a fake engine on a real unix socket (drain before engine close,
 * idle exit, socket and dir modes).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { asEngine } from '../helpers/fake-engine.js';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import type { Engine } from '../../daemon/engine/engine.js';
import { acquireDaemonLock, probeSocket } from '../../daemon/server/daemon-lock.js';
import { createIdleTimer } from '../../daemon/server/idle-timer.js';
import { runDaemon } from '../../daemon/server/run.js';
import { createShutdown } from '../../daemon/server/shutdown.js';
import type { BuildReport } from '../../shared/build-types.js';
import { resolveConfig, type Config } from '../../shared/config.js';
import { BtfdError } from '../../shared/errors.js';

const silent = pino({ level: 'silent' });

function tempHome(t: TestContext): string {
  // Short: unix socket paths must stay under 108 bytes.
  const dir = fs.mkdtempSync('/tmp/btfd-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('idle timer fires once after the timeout, never while requests run or a hold is taken', async () => {
  let fired = 0;
  const idle = createIdleTimer({ timeoutMs: 40, onIdle: () => { fired += 1; } });
  idle.start();
  idle.begin();
  await sleep(80);
  assert.equal(fired, 0, 'a request in flight keeps it alive');
  const release = idle.hold();
  idle.end();
  await sleep(80);
  assert.equal(fired, 0, 'a hold keeps it alive');
  assert.equal(idle.effectiveTimeoutMs(), 0);
  release();
  release(); // idempotent
  assert.equal(idle.effectiveTimeoutMs(), 40);
  await sleep(100);
  assert.equal(fired, 1);
  idle.begin();
  idle.end();
  await sleep(80);
  assert.equal(fired, 1, 'fires only once');

  const never = createIdleTimer({ timeoutMs: 0, onIdle: () => { fired += 1; } });
  never.start();
  await sleep(30);
  assert.equal(fired, 1, 'a timeout of 0 disables idle exit');
});

test('shutdown runs its steps once, in order, past a failing step, and returns the same promise', async () => {
  const ran: string[] = [];
  const shutdown = createShutdown(() => [
    { name: 'a', run: async () => { await sleep(10); ran.push('a'); } },
    { name: 'b', run: () => { ran.push('b'); throw new Error('b failed'); } },
    { name: 'c', run: () => { ran.push('c'); } },
  ], silent);
  assert.equal(shutdown.started(), false);
  const first = shutdown({ kind: 'signal', signal: 'SIGTERM' });
  const second = shutdown({ kind: 'idle' });
  assert.equal(first, second);
  assert.deepEqual(await first, { kind: 'signal', signal: 'SIGTERM' });
  assert.deepEqual(await shutdown.completed, { kind: 'signal', signal: 'SIGTERM' });
  assert.deepEqual(ran, ['a', 'b', 'c']);
});

function assertAlreadyRunning(err: unknown, mentions: RegExp): true {
  assert.ok(err instanceof BtfdError);
  assert.equal(err.code, 'BTFD_ERR_DAEMON_ALREADY_RUNNING');
  assert.match(err.message, mentions);
  return true;
}

test('the home lock admits one holder; a stale socket file is removed; release lets the next in', async (t) => {
  const dir = tempHome(t);
  const socketPath = path.join(dir, 'btfd.sock');
  // A leftover file where the socket goes: nothing answers on it, so it is stale.
  fs.writeFileSync(socketPath, '');
  const stale: string[] = [];
  const first = await acquireDaemonLock(socketPath, { onStaleSocket: (p) => stale.push(p) });
  assert.deepEqual(stale, [socketPath]);
  assert.equal(fs.existsSync(socketPath), false);

  // Held, nothing answering (a daemon starting or stopping): bounded wait, then refused.
  const started = Date.now();
  await assert.rejects(acquireDaemonLock(socketPath, { waitMs: 150 }), (err) => assertAlreadyRunning(err, /does not answer/));
  assert.ok(Date.now() - started >= 150);

  // Held and answering: refused at once.
  const server = net.createServer((c) => c.destroy());
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  assert.equal(await probeSocket(socketPath), 'alive');
  await assert.rejects(acquireDaemonLock(socketPath, { waitMs: 5000 }), (err) => assertAlreadyRunning(err, /answers on the socket/));
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.equal(await probeSocket(socketPath), 'absent');

  await first.release();
  await first.release();
  const next = await acquireDaemonLock(socketPath, { waitMs: 0 });
  await next.release();
});


function fakeEngine(events: string[], buildGate?: Promise<void>): Engine {
  return asEngine({
    async build(request) {
      events.push('build started');
      await buildGate;
      events.push('build finished');
      const report: BuildReport = {
        dir: request.dir, base: '', flags: '', pahole: { path: '', version: '' }, modules: 0, fresh: 0, restored: 0, relocated: 0, regenerated: 0, failed: 0, seconds: 0,
        failures: [], results: [],
      };
      return report;
    },
    async close() { events.push('engine closed'); },
  });
}

function post(socketPath: string, url: string, body: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = http.request({ socketPath, method: 'POST', path: url, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { text += chunk; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

function daemonConfig(home: string, idleTimeoutMs: number): Config {
  return resolveConfig({ env: { BTFD_HOME: home }, flags: { idleTimeoutMs, workers: 1 }, file: null });
}

test('runDaemon listens on a 0600 socket in 0700 dirs; shutdown drains a running build before closing the engine', async (t) => {
  const home = tempHome(t);
  const events: string[] = [];
  let openGate!: () => void;
  const gate = new Promise<void>((resolve) => { openGate = resolve; });
  const daemon = await runDaemon({
    config: daemonConfig(home, 0),
    createEngine: () => fakeEngine(events, gate),
    pid: 77,
  });
  const config = daemonConfig(home, 0);
  assert.equal(fs.statSync(config.socketPath).mode & 0o777, 0o600);
  for (const dir of [config.runtimeDir, config.cacheDir, config.stateDir]) assert.equal(fs.statSync(dir).mode & 0o777, 0o700, dir);
  assert.equal(fs.statSync(config.logPath).mode & 0o777, 0o600);
  await daemon.reconciled;

  const build = post(config.socketPath, '/v1/build', { dir: '/k' });
  while (!events.includes('build started')) await sleep(5);
  const stopping = daemon.shutdown({ kind: 'signal', signal: 'SIGTERM' });
  assert.equal(daemon.shutdown({ kind: 'idle' }), stopping, 'idempotent');
  await sleep(50);
  assert.ok(!events.includes('engine closed'), 'the engine stays open while a build is in flight');
  assert.equal(fs.existsSync(config.socketPath), false, 'stopped accepting: the socket is gone');
  openGate();
  const answer = await build;
  assert.equal(answer.status, 200, 'the in-flight build still gets its answer');
  assert.deepEqual(await daemon.stopped, { kind: 'signal', signal: 'SIGTERM' });
  assert.deepEqual(events, ['build started', 'build finished', 'engine closed']);

  // The lock was released last: a new daemon can take the home at once.
  const again = await runDaemon({ config, createEngine: () => fakeEngine([]), pid: 78, lockWaitMs: 0 });
  await again.shutdown({ kind: 'request' });
});

test('runDaemon exits on idle after idleTimeoutMs without requests, and a request resets the timer', async (t) => {
  const home = tempHome(t);
  const config = daemonConfig(home, 300);
  const started = Date.now();
  const daemon = await runDaemon({ config, createEngine: () => fakeEngine([]), pid: 79, logger: silent });
  await sleep(200);
  assert.equal((await post(config.socketPath, '/v1/cache/clear', {})).status, 200);
  const reason = await daemon.stopped;
  const elapsed = Date.now() - started;
  assert.deepEqual(reason, { kind: 'idle' });
  assert.ok(elapsed >= 480, `the request at 200 ms pushed the idle exit past 500 ms (took ${elapsed} ms)`);
  assert.equal(fs.existsSync(config.socketPath), false);
});

test('a second runDaemon on the same home is refused with BTFD_ERR_DAEMON_ALREADY_RUNNING', async (t) => {
  const home = tempHome(t);
  const config = daemonConfig(home, 0);
  const first = await runDaemon({ config, createEngine: () => fakeEngine([]), pid: 80, logger: silent });
  t.after(() => first.shutdown({ kind: 'request' }));
  let engineCreated = false;
  await assert.rejects(
    runDaemon({ config, createEngine: () => { engineCreated = true; return fakeEngine([]); }, pid: 81, logger: silent }),
    (err) => assertAlreadyRunning(err, /answers on the socket/),
  );
  assert.equal(engineCreated, false, 'the loser never opens the store');
  assert.equal(fs.existsSync(config.socketPath), true, 'the winner keeps its socket');
});
