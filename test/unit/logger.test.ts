/**
 * The daemon's logger: an async sink that never throws (a write error drops and counts its lines,
 * and the first write that works again says how many were lost), and warnings repeated by the
 * thousand are rate-limited with one summary line.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogSink } from '../../daemon/server/log-sink.js';
import { createLogger, LOG_BURST } from '../../daemon/server/logger.js';

function tempDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'btfd-log-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function lines(file: string): Array<Record<string, unknown>> {
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
}

test('a sink whose writes fail (EBADF here; ENOSPC in reliability-disk) counts the lost lines and never throws', async (t) => {
  const file = path.join(tempDir(t), 'log');
  // A read-only fd: every write fails, as on a full or read-only file system.
  fs.writeFileSync(file, '');
  const fd = fs.openSync(file, 'r');
  t.after(() => fs.closeSync(fd));
  const sink = createLogSink(fd);
  for (let i = 0; i < 10; i += 1) assert.doesNotThrow(() => sink.write(`{"n":${i}}\n`));
  await sleep(50);
  sink.flushSync();
  const stats = sink.stats();
  assert.equal(stats.written, 0);
  assert.equal(stats.dropped, 10);
  assert.equal(stats.lastError?.code, 'EBADF');
});

test('lines dropped are reported by the first write that works again', async (t) => {
  const file = path.join(tempDir(t), 'log');
  const sink = createLogSink(file);
  // Over the queue bound in one tick: the excess is dropped, not buffered without end.
  const line = `${JSON.stringify({ msg: 'x'.repeat(1000) })}\n`;
  for (let i = 0; i < 2000; i += 1) sink.write(line);
  await sleep(100);
  sink.write('{"msg":"after"}\n');
  await sleep(100);
  sink.end();
  const stats = sink.stats();
  assert.ok(stats.dropped > 0 && stats.written + stats.dropped === 2001, JSON.stringify(stats));
  const written = lines(file);
  const note = written.find((l) => l['msg'] === 'log lines dropped');
  assert.equal(note?.['dropped'], stats.dropped);
});

test(`a warning repeated 1000 times writes ${LOG_BURST} lines and one summary; other messages are not held back`, async (t) => {
  const file = path.join(tempDir(t), 'log');
  const log = createLogger({ logPath: file, level: 'info', pid: 1 });
  const watch = log.logger.child({ component: 'watch' });
  for (let i = 0; i < 1000; i += 1) watch.warn({ i }, 'watcher error');
  watch.warn({}, 'another warning');
  for (let i = 0; i < 100; i += 1) watch.info({ i }, 'info lines are not limited');
  assert.equal(log.health().suppressed, 1000 - LOG_BURST);
  log.close();
  await sleep(50);
  const written = lines(file);
  assert.equal(written.filter((l) => l['msg'] === 'watcher error').length, LOG_BURST);
  assert.equal(written.filter((l) => l['msg'] === 'another warning').length, 1);
  assert.equal(written.filter((l) => l['msg'] === 'info lines are not limited').length, 100);
});
