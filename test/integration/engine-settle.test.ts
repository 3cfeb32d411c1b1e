/**
 * Settling btfd's own writes: a module the engine just installed is racily clean in the stat cache
 * (its stamp is within the racy window of the stat that recorded it), so the next build would hash
 * it again. Once the window has passed, the engine hashes its fresh writes again in the background
 * and the stat cache trusts them; a module changed meanwhile is not settled with stale digests.
 */
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { stampOf } from '../../daemon/fs/file-stamp.js';
import { changeModule, createFixtureKernel } from '../fixtures/fixture-kernel.js';
import { tempDir, testEngine } from '../helpers/engine-harness.js';

const trusted = async (store: ReturnType<typeof testEngine>['store'], modulePath: string): Promise<boolean> =>
  store.statCache.lookup(modulePath, stampOf(await stat(modulePath, { bigint: true }))) !== null;

test('a build\'s own writes are settled once the racy window has passed, so the next build hashes nothing', async (t) => {
  const dir = tempDir(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const { engine, store } = testEngine(t);
  const report = await engine.build({ dir: kernel.dir });
  assert.equal(report.regenerated, kernel.modules.length);
  // Right after the build every module is racy: trusting it could miss a write in the same tick.
  for (const module of kernel.modules) assert.equal(await trusted(store, module), false, `${module} trusted right after its write`);

  // A module changed after the build (by kbuild, say) must not be settled with the old digests.
  const changed = kernel.modules[0]!;
  await changeModule(kernel, path.basename(changed, '.ko'));

  const deadline = Date.now() + 30_000;
  const others = kernel.modules.filter((m) => m !== changed);
  while (!(await Promise.all(others.map((m) => trusted(store, m)))).every(Boolean)) {
    assert.ok(Date.now() < deadline, 'the own writes were never settled');
    await sleep(100);
  }
  const next = await engine.build({ dir: kernel.dir });
  assert.equal(next.fresh, kernel.modules.length - 1);
  assert.equal(next.regenerated, 1, 'the changed module is rebuilt, not taken for settled');
});
