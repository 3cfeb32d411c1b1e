/**
 * What a killed process leaves is swept at the next chance: a module's temp files (an install
 * killed between creating its temp file and the rename) when the module is next written, whatever
 * their age; regeneration scratch dirs when the engine starts.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
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
  // Named by a process that is gone, and by a live one (a --no-daemon run writing it right now).
  const dead = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
  const live = spawn('sleep', ['30']);
  t.after(() => live.kill());
  await writeFile(leftover(module, `${dead.toString(16)}-0a0a0a0a0a0a`), 'killed mid-write');
  await writeFile(leftover(module, `${live.pid!.toString(16)}-0b0b0b0b0b0b`), 'being written');
  const lookalike = path.join(path.dirname(module), `.${path.basename(module)}.btfd-notours.tmp`);
  await writeFile(lookalike, 'not named by btfd');
  const { engine } = testEngine(t);
  // An explicit module list: no walk of the tree, which has its own (age-based) sweep.
  const report = await engine.build({ dir: kernel.dir, modules: [module], paholeFlags: '' });
  assert.deepEqual(report.failures, []);
  assert.equal(existsSync(leftover(module, 'a1b2c3d4e5f6')), false);
  assert.equal(existsSync(leftover(module, '0123456789ab')), false);
  assert.equal(existsSync(leftover(module, `${dead.toString(16)}-0a0a0a0a0a0a`)), false);
  assert.equal(existsSync(leftover(module, `${live.pid!.toString(16)}-0b0b0b0b0b0b`)), true, 'a live process\'s write in flight is left alone');
  assert.equal(existsSync(leftover(other, 'ffffffffffff')), true, 'another module\'s temp file is its own build\'s to sweep');
  assert.equal(existsSync(lookalike), true);
});

test('regen-* scratch dirs of a killed process are removed when the engine starts; a live one\'s are kept', async (t) => {
  const cacheDir = tempDir(t, 'btfd-cache-');
  const tmp = path.join(cacheDir, 'tmp');
  // A process that has exited: its pid names no process any more.
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
  const scratch = path.join(tmp, `regen-${dead}-Xk3p9a`);
  await mkdir(scratch, { recursive: true });
  await writeFile(path.join(scratch, 'module.btf'), 'partial pahole output');
  // A live process sharing the cache dir (a --no-daemon run beside the daemon).
  const live = spawn('sleep', ['30']);
  t.after(() => live.kill());
  await mkdir(path.join(tmp, `regen-${live.pid}-Ab12Cd`));
  // Made by an older btfd (no pid): swept once it is an hour old.
  await mkdir(path.join(tmp, 'regen-old123'));
  const hourAgo = new Date(Date.now() - 2 * 60 * 60 * 1000);
  await utimes(path.join(tmp, 'regen-old123'), hourAgo, hourAgo);
  await mkdir(path.join(tmp, 'regen-new456'));
  await writeFile(path.join(tmp, 'keep-me'), 'not a regen dir');
  testEngine(t, { cacheDir });
  assert.deepEqual((await readdir(tmp)).sort(), ['keep-me', `regen-${live.pid}-Ab12Cd`, 'regen-new456'].sort());
});
