/**
 * What a killed process leaves is swept at the next chance: a module's temp files (an install
 * killed between creating its temp file and the rename) when the module is next written, whatever
 * their age; regeneration scratch dirs when the engine starts.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { createFixtureKernel } from '../fixtures/fixture-kernel.js';
import { tempDir, testEngine } from '../helpers/engine-harness.js';

test('a module\'s temp files from a killed install are removed when it is next written, whatever their age', async (t) => {
  const dir = tempDir(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const [module, other] = kernel.modules as [string, string];
  const leftover = (file: string, id: string) => path.join(path.dirname(file), `.${path.basename(file)}.btfd-${id}.tmp`);
  // As the atomic writer names them; written just now, so no age rule would take them.
  await writeFile(leftover(module, 'a1b2c3d4e5f6'), 'half a module');
  await writeFile(leftover(module, '0123456789ab'), 'another half');
  await writeFile(leftover(other, 'ffffffffffff'), 'not this build\'s module');
  const lookalike = path.join(path.dirname(module), `.${path.basename(module)}.btfd-notours.tmp`);
  await writeFile(lookalike, 'not named by btfd');
  const { engine } = testEngine(t);
  // An explicit module list: no walk of the tree, which has its own (age-based) sweep.
  const report = await engine.build({ dir: kernel.dir, modules: [module], paholeFlags: '' });
  assert.deepEqual(report.failures, []);
  assert.equal(existsSync(leftover(module, 'a1b2c3d4e5f6')), false);
  assert.equal(existsSync(leftover(module, '0123456789ab')), false);
  assert.equal(existsSync(leftover(other, 'ffffffffffff')), true, 'another module\'s temp file is its own build\'s to sweep');
  assert.equal(existsSync(lookalike), true);
});

test('regen-* scratch dirs of a killed daemon are removed when the engine starts', async (t) => {
  const cacheDir = tempDir(t, 'btfd-cache-');
  const scratch = path.join(cacheDir, 'tmp', 'regen-Xk3p9a');
  await mkdir(scratch, { recursive: true });
  await writeFile(path.join(scratch, 'module.btf'), 'partial pahole output');
  await writeFile(path.join(cacheDir, 'tmp', 'keep-me'), 'not a regen dir');
  testEngine(t, { cacheDir });
  assert.deepEqual(await readdir(path.join(cacheDir, 'tmp')), ['keep-me']);
});
