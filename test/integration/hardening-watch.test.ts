/**
 * Hostile files appearing in a watched tree (real chokidar, real engine, real pahole): a symlink
 * `x.ko` whose target lies outside the tree is not written through, and a FIFO `x.ko` does not
 * hang the watcher; both are reported with their codes and the tree stays watched.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFile, readFile, symlink } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { createWatchManager, type WatchEvent } from '../../daemon/watch/watch-manager.js';
import { createFixtureKernel } from '../fixtures/fixture-kernel.js';
import { copyOutsideTree, tempDir, testEngine } from '../helpers/engine-harness.js';

async function waitFor(what: string, check: () => boolean, timeoutMs = 20_000): Promise<number> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) assert.fail(`timed out waiting for ${what}`);
    await sleep(25);
  }
  return Date.now() - started;
}

test('a symlink and a FIFO named .ko appear in a watched tree: coded failures, the target untouched, the watcher goes on', async (t) => {
  const { engine, store } = testEngine(t);
  const events: WatchEvent[] = [];
  const manager = createWatchManager({
    engine, registry: store.trees, logger: pino({ level: 'silent' }), settleMs: 150, rescanMs: 0, ignoredDirs: [], publish: (event) => events.push(event),
  });
  t.after(() => manager.close());
  const dir = tempDir(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const { file: target, bytes: before } = await copyOutsideTree(dir, kernel.modules[0]!);
  const finished = () => events.filter((e): e is Extract<WatchEvent, { type: 'build-finished' }> => e.type === 'build-finished');

  await manager.add({ dir: kernel.dir, paholeFlags: '' });
  await waitFor('the first build', () => finished().length >= 1);
  await manager.idle();
  const builds = finished().length;

  await symlink(target, path.join(kernel.dir, 'link.ko'));
  execFileSync('mkfifo', [path.join(kernel.dir, 'fifo.ko')]);
  const ms = await waitFor('both files to be built', () => finished().slice(builds).flatMap((e) => e.report.failures).length >= 2);
  await manager.idle();
  const failures = finished().slice(builds).flatMap((e) => e.report.failures).map((f) => [path.basename(f.path), f.error?.code]).sort();
  assert.deepEqual(failures, [['fifo.ko', 'BTFD_ERR_FILE_NOT_REGULAR'], ['link.ko', 'BTFD_ERR_FILE_SYMLINK']]);
  assert.deepEqual(await readFile(target), before);
  // Still watching: a relinked module is handled as usual.
  const pristine = await createFixtureKernel(path.join(dir, 'pristine'));
  const seen = finished().length;
  await copyFile(pristine.modules[1]!, kernel.modules[1]!);
  await waitFor('the relinked module', () => finished().slice(seen).some((e) => e.report.restored + e.report.regenerated >= 1));
  t.diagnostic(`symlink + FIFO in a watched tree: both reported ${ms} ms after creation`);
});
