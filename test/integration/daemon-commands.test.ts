/**
 * `btfd start|status|logs|stop` as the CLI runs them (the functions client/cli.ts wires in),
 * against the real daemon on a short temp BTFD_HOME.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { PassThrough } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectDaemon, waitForExit } from '../../client/connect.js';
import { requestHello } from '../../client/daemon-client.js';
import {
  createLogLineFormatter, logsCommand, startCommand, STATUS_NOT_RUNNING_EXIT_CODE, statusCommand, stopCommand, type CommandIo,
} from '../../client/daemon-commands.js';
import { resolveConfig, type Config } from '../../shared/config.js';

interface CapturedIo extends CommandIo {
  out(): string;
  err(): string;
}

function captureIo(): CapturedIo {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.setEncoding('utf8').on('data', (chunk: string) => { out += chunk; });
  stderr.setEncoding('utf8').on('data', (chunk: string) => { err += chunk; });
  return { stdout, stderr, out: () => out, err: () => err };
}

function tempConfig(t: TestContext): Config {
  const dir = fs.mkdtempSync('/tmp/btfd-');
  const config = resolveConfig({ env: { BTFD_HOME: dir }, file: null });
  t.after(async () => {
    try {
      const { pid } = await requestHello(config.socketPath, 1000);
      process.kill(pid, 'SIGKILL');
      await waitForExit(pid, 5000);
    } catch {
      // no daemon left
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return config;
}

test('the log line formatter turns pino JSON into readable text and passes other text through', async () => {
  const formatLogLine = await createLogLineFormatter();
  const time = new Date(2025, 0, 2, 3, 4, 5, 678).getTime();
  const line = JSON.stringify({ level: 30, time, pid: 12, hostname: 'h', component: 'daemon', socketPath: '/r/btfd.sock', note: 'two words', msg: 'daemon listening' });
  assert.equal(formatLogLine(line), '[2025-01-02 03:04:05.678] INFO: [12 daemon] daemon listening {"socketPath":"/r/btfd.sock","note":"two words"}');
  const error = JSON.stringify({ level: 50, time, pid: 12, component: 'http', err: { type: 'TypeError', message: 'x is undefined', stack: 'TypeError: x is undefined\n    at f (a.js:1:1)' }, msg: 'request failed unexpectedly' });
  const text = formatLogLine(error);
  assert.match(text, /^\[2025-01-02 03:04:05\.678\] ERROR: \[12 http\] request failed unexpectedly/);
  assert.match(text, /\n\s+at f \(a\.js:1:1\)/, 'the stack follows');
  assert.equal(formatLogLine('btfd daemon: BTFD_ERR_X: plain stderr'), 'btfd daemon: BTFD_ERR_X: plain stderr');
});

test('start, status, logs -f and stop drive one daemon and print short human text', async (t) => {
  const config = tempConfig(t);

  const notRunning = captureIo();
  assert.equal(await statusCommand(config, {}, notRunning), STATUS_NOT_RUNNING_EXIT_CODE);
  assert.match(notRunning.out(), /^btfd daemon: not running/);

  const start = captureIo();
  assert.equal(await startCommand(config, {}, start), 0, start.err());
  const pid = Number(/started \(pid (\d+)\)/.exec(start.out())?.[1]);
  assert.ok(pid > 0, start.out());
  const again = captureIo();
  assert.equal(await startCommand(config, {}, again), 0);
  assert.match(again.out(), new RegExp(`already running \\(pid ${pid}\\)`));

  const status = captureIo();
  assert.equal(await statusCommand(config, {}, status), 0);
  assert.match(status.out(), new RegExp(`^btfd daemon: running \\(pid ${pid}, up \\d+s, v\\d`));
  assert.match(status.out(), new RegExp(`socket +${config.socketPath}`));
  assert.match(status.out(), /cache .*\n +0 entries, 0 B of 2\.0 GiB; no lookups yet/);
  assert.match(status.out(), /pahole +v1\.\d+ at \//);
  assert.ok(!status.out().includes('{'), 'human text, not JSON');
  const json = captureIo();
  assert.equal(await statusCommand(config, { json: true }, json), 0);
  const parsed = JSON.parse(json.out());
  assert.equal(parsed.running, true);
  assert.equal(parsed.pid, pid);
  assert.equal(parsed.cache.maxBytes, config.maxCacheBytes);

  const logs = captureIo();
  assert.equal(await logsCommand(config, {}, logs), 0);
  assert.match(logs.out(), /INFO: \[\d+ daemon\] daemon listening \{"socketPath":/);
  assert.ok(logs.out().split('\n').every((line) => !line.startsWith('{')), 'no raw JSON');

  // Follow the log while the daemon stops: the shutdown lines arrive through -f.
  const follow = captureIo();
  const abort = new AbortController();
  const following = logsCommand(config, { follow: true, lines: 0, signal: abort.signal }, follow);
  const stop = captureIo();
  assert.equal(await stopCommand(config, {}, stop), 0, stop.err());
  assert.equal(stop.out(), `btfd daemon stopped (pid ${pid})\n`);
  const deadline = Date.now() + 5000;
  while (!follow.out().includes('shutdown complete') && Date.now() < deadline) await sleep(50);
  abort.abort();
  assert.equal(await following, 0);
  assert.match(follow.out(), /\[\d+ daemon\] stop requested/);
  assert.match(follow.out(), /shutdown complete \{"reason":"request"/);
  assert.ok(!follow.out().includes('daemon listening'), '-n 0 starts at the end');

  const stopAgain = captureIo();
  assert.equal(await stopCommand(config, {}, stopAgain), 0);
  assert.equal(stopAgain.out(), 'btfd daemon is not running\n');
});

test('start --foreground runs the daemon attached to the command until it is stopped', async (t) => {
  const config = tempConfig(t);
  const io = captureIo();
  const foreground = startCommand(config, { foreground: true }, io);
  const deadline = Date.now() + 10_000;
  while (!io.out().includes('listening') && Date.now() < deadline) await sleep(20);
  const client = await connectDaemon(config, { autostart: false });
  assert.match(io.out(), new RegExp(`btfd daemon listening on ${config.socketPath} \\(pid ${client.identity.pid}\\)`));
  // Its log lines come out too, readable (a container's `docker logs`, a unit's journal).
  for (let i = 0; i < 100 && !/INFO: \[\d+ daemon\] daemon listening/.test(io.out()); i++) await sleep(20);
  assert.match(io.out(), new RegExp(`INFO: \\[${client.identity.pid} daemon\\] daemon listening \\{"socketPath":`));
  assert.deepEqual(await client.stop(), { stopping: true, pid: client.identity.pid });
  // The command ends with the daemon, with its exit code.
  assert.equal(await foreground, 0);
  assert.equal(fs.existsSync(config.socketPath), false);
});
