/**
 * btfd's own writes are trusted at once: installSections sets a written module's mtime just below
 * its ctime, so no later write can leave its stamp unchanged, and the stat cache needs no racy
 * window for it. The first build right after a build therefore hashes nothing it wrote; a module
 * changed right after its write (by kbuild, say) is still seen as changed.
 */
import assert from 'node:assert/strict';
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { readElfLayout } from '../../daemon/elf/elf-file.js';
import { stampOf } from '../../daemon/fs/file-stamp.js';
import { createFixtureKernel } from '../fixtures/fixture-kernel.js';
import { tempDir, testEngine } from '../helpers/engine-harness.js';

const trusted = async (store: ReturnType<typeof testEngine>['store'], modulePath: string): Promise<boolean> =>
  store.statCache.lookup(modulePath, stampOf(await stat(modulePath, { bigint: true }))) !== null;

test('a build\'s own writes are trusted at once, and a write right after one is still seen', async (t) => {
  const dir = tempDir(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const { engine, store } = testEngine(t);
  const report = await engine.build({ dir: kernel.dir });
  assert.equal(report.regenerated, kernel.modules.length);
  for (const module of kernel.modules) {
    const info = await stat(module, { bigint: true });
    assert.ok(info.mtimeNs < info.ctimeNs, `${module}: mtime below ctime`);
    assert.equal(await trusted(store, module), true, `${module} trusted right after its write`);
  }

  // Overwrite one module's bytes in place, same size, at once (within the same timestamp tick as
  // btfd's write): its mtime moves, so it is not taken for what btfd wrote.
  const changed = kernel.modules[0]!;
  const before = await stat(changed, { bigint: true });
  const comment = (await readElfLayout(changed)).sections.find((s) => s.name === '.comment');
  assert.ok(comment && comment.size > 8);
  const fh = await open(changed, 'r+');
  try {
    await fh.write(Buffer.from('changed!'), 0, 8, comment.offset);
  } finally {
    await fh.close();
  }
  const after = await stat(changed, { bigint: true });
  assert.equal(after.size, before.size);
  assert.notEqual(after.mtimeNs, before.mtimeNs, 'a write moves the mtime past the marked one');
  assert.equal(await trusted(store, changed), false);

  const next = await engine.build({ dir: kernel.dir });
  assert.equal(next.fresh, kernel.modules.length - 1, 'nothing btfd wrote is hashed again or rebuilt');
  assert.equal(next.regenerated, 1, 'the changed module is rebuilt');
});
