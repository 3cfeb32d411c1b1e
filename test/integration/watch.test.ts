/**
 * Watch mode with a real engine, real chokidar and the real pahole on the fixture kernel.
 */
import assert from 'node:assert/strict';
import { copyFile, open, readFile, utimes } from 'node:fs/promises';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { readSections } from '../../daemon/elf/elf-file.js';
import { createWatchManager, type WatchEvent, type WatchManager } from '../../daemon/watch/watch-manager.js';
import { createFixtureKernel, writeVmlinuxVariant } from '../fixtures/fixture-kernel.js';
import { tempDir, testEngine } from '../helpers/engine-harness.js';

const SETTLE_MS = 150;

function startManager(t: TestContext, cacheDir?: string): { manager: WatchManager; events: WatchEvent[] } {
  const { engine, store } = testEngine(t, cacheDir ? { cacheDir } : {});
  const events: WatchEvent[] = [];
  const manager = createWatchManager({
    engine,
    registry: store.trees,
    logger: pino({ level: 'silent' }),
    settleMs: SETTLE_MS,
    rescanMs: 0,
    ignoredDirs: [],
    publish: (event) => events.push(event),
  });
  t.after(() => manager.close());
  return { manager, events };
}

/** Poll until `check` holds, failing after timeoutMs. */
async function waitFor(what: string, check: () => boolean, timeoutMs = 5000): Promise<number> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) assert.fail(`timed out waiting for ${what}`);
    await sleep(25);
  }
  return Date.now() - started;
}

const finished = (events: WatchEvent[]) => events.filter((e): e is Extract<WatchEvent, { type: 'build-finished' }> => e.type === 'build-finished');
const started = (events: WatchEvent[]) => events.filter((e) => e.type === 'build-started');

test('a watched tree stays current: reconcile, restore on relink, nothing on touch, all on a type change', async (t) => {
  // The manager first: t.after hooks run in order, and it must close before its tree is deleted.
  const { manager, events } = startManager(t);
  const dir = tempDir(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const pristine = await createFixtureKernel(path.join(dir, 'pristine'));
  const n = kernel.modules.length;

  await manager.add({ dir: kernel.dir });
  await waitFor('first build', () => finished(events).length >= 1);
  assert.equal(finished(events)[0]!.report.regenerated, n);
  // The reconcile build runs while chokidar scans; one more pass follows once it is ready.
  await manager.idle();
  assert.equal(finished(events).at(-1)!.report.fresh, n);
  const reconciled = started(events).length;

  // btfd's own writes echo back as events: they must not start any work. A touch of vmlinux is a
  // barrier: once it has been looked at, so has every event before it.
  const touched = new Date(Date.now() + 1000);
  await utimes(kernel.vmlinux, touched, touched);
  await waitFor('the touch to be looked at', () => events.some((e) => e.type === 'change-seen'));
  await manager.idle();
  assert.ok(events.filter((e) => e.type === 'change-seen').every((e) => e.type === 'change-seen' && !e.work), 'own writes asked for no work');
  assert.equal(started(events).length, reconciled, 'own writes triggered no build');

  // A relinked module (no .BTF) is restored soon after the write settles.
  const relinked = kernel.modules[3]!;
  await copyFile(pristine.modules[3]!, relinked);
  const restoreMs = await waitFor('restore', () => finished(events).length === reconciled + 1);
  const restore = finished(events).at(-1)!.report;
  assert.deepEqual([restore.modules, restore.restored], [1, 1]);
  assert.ok(restoreMs < 2000, `restored ${restoreMs} ms after the write`);

  // touch vmlinux: the base's .BTF bytes did not change, so nothing is planned at all.
  const now = new Date(Date.now() + 3000);
  const seenBefore = events.length;
  await utimes(kernel.vmlinux, now, now);
  await writeVmlinuxVariant(kernel, 'relinked');
  await waitFor('the base change to be looked at', () => events.slice(seenBefore).some((e) => e.type === 'change-seen'));
  await manager.idle();
  assert.equal(started(events).length, reconciled + 1, 'no build after a touch or a relink with the same types');
  assert.equal(events.filter((e) => e.type === 'base-changed').length, 0);

  await writeVmlinuxVariant(kernel, 'typechange');
  await waitFor('type change build', () => finished(events).length === reconciled + 2, 10_000);
  assert.equal(events.filter((e) => e.type === 'base-changed').length, 1);
  const typeChange = finished(events).at(-1)!.report;
  assert.equal(typeChange.relocated + typeChange.regenerated, n);
  await manager.close();
});

test('registrations survive a restart of the manager', async (t) => {
  const cacheDir = tempDir(t, 'btfd-cache-');
  const first = startManager(t, cacheDir);
  const second = startManager(t, cacheDir);
  const dir = tempDir(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  await first.manager.add({ dir: kernel.dir });
  await first.manager.idle();
  await first.manager.close();

  await second.manager.restore();
  assert.deepEqual(second.manager.list().map((tree) => tree.dir), [kernel.dir]);
  await waitFor('reconcile', () => finished(second.events).length >= 1);
  assert.equal(finished(second.events)[0]!.report.fresh, kernel.modules.length);

  assert.equal(await second.manager.remove(kernel.dir), true);
  assert.equal(second.manager.size, 0);
  assert.equal(await second.manager.remove(kernel.dir), false);
});

test('watching a tree without a base fails with the base code', async (t) => {
  const dir = tempDir(t);
  const { manager } = startManager(t);
  await assert.rejects(manager.add({ dir }), { code: 'BTFD_ERR_BASE_MISSING' });
  await assert.rejects(manager.add({ dir: path.join(dir, 'nope') }), { code: 'BTFD_ERR_TREE_NOT_FOUND' });
});

/** A watched fixture kernel after its first build, and a pristine copy to relink modules from. */
async function watchedKernel(t: TestContext) {
  const { manager, events } = startManager(t);
  const dir = tempDir(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const pristine = await createFixtureKernel(path.join(dir, 'pristine'));
  await manager.add({ dir: kernel.dir });
  await waitFor('first build', () => finished(events).length >= 1);
  await manager.idle();
  return { manager, events, kernel, pristine };
}

test('a module written slowly in pieces is built once, whole: no build of a partial file, no error for one', async (t) => {
  const { manager, events, kernel, pristine } = await watchedKernel(t);
  const before = events.length;

  // A relink (no .BTF) written in five pieces, each pause longer than the settle.
  const module = kernel.modules[2]!;
  const bytes = await readFile(pristine.modules[2]!);
  const piece = Math.ceil(bytes.length / 5);
  const handle = await open(module, 'w');
  try {
    for (let at = 0; at < bytes.length; at += piece) {
      await handle.write(bytes, at, Math.min(piece, bytes.length - at), at);
      await sleep(SETTLE_MS + 100);
    }
  } finally {
    await handle.close();
  }
  await waitFor('the whole module to be built', () => finished(events.slice(before)).some((e) => e.report.modules > 0));
  await sleep(SETTLE_MS * 2);
  await manager.idle();

  const after = events.slice(before);
  assert.deepEqual(after.filter((e) => e.type === 'build-failed'), []);
  const builds = finished(after).filter((e) => e.report.modules > 0).map((e) => e.report);
  assert.deepEqual(builds.map((r) => [r.modules, r.restored, r.failed]), [[1, 1, 0]], 'one build, of the whole module');
  assert.ok((await readSections(module, ['.BTF'])).has('.BTF'), 'its BTF is installed');
});

test('a burst of relinked modules is built as one batch', async (t) => {
  const { manager, events, kernel, pristine } = await watchedKernel(t);
  const n = kernel.modules.length;
  const before = events.length;

  for (const [i, module] of kernel.modules.entries()) await copyFile(pristine.modules[i]!, module);
  await waitFor('every module restored', () => finished(events.slice(before)).reduce((sum, e) => sum + e.report.restored, 0) >= n, 10_000);
  await manager.idle();

  const builds = finished(events.slice(before)).filter((e) => e.report.modules > 0).map((e) => e.report.modules);
  assert.ok(builds.length === 1 || (builds.length === 2 && builds[0] === 1), `one batch of ${n}, or the first alone and then the rest: ${JSON.stringify(builds)}`);
  assert.equal(builds.reduce((a, b) => a + b, 0), n);
});
