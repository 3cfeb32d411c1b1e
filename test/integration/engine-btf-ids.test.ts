/**
 * The engine keeps `.BTF_ids` consistent with the `.BTF` it installs, on the fixture whose
 * resolution by the kernel's real resolve_btfids is committed (test/data/btf-ids): regenerate,
 * fresh, restore, a module kbuild already resolved, and a base that renumbers every type.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { readSections } from '../../daemon/elf/elf-file.js';
import { installSections } from '../../daemon/elf/elf-install.js';
import { readBtfIdsSource } from '../../daemon/elf/elf-symbols.js';
import { BTF_IDS_DATA } from '../helpers/test-data.js';
import { execFileAsync, tempDir, testEngine } from '../helpers/engine-harness.js';

const fixture = (name: string): string => path.join(BTF_IDS_DATA, name);

async function section(file: string, name: string): Promise<Buffer | undefined> {
  if (name === '.BTF_ids') return (await readBtfIdsSource(file))?.bytes;
  return (await readSections(file, [name])).get(name);
}

/** The module holds exactly the .BTF and .BTF_ids of `expected` (a file the real tools made). */
async function assertSections(module: string, expected: string, what: string): Promise<void> {
  assert.deepEqual(await section(module, '.BTF'), await section(expected, '.BTF'), `${what}: .BTF`);
  assert.deepEqual(await section(module, '.BTF_ids'), await section(expected, '.BTF_ids'), `${what}: .BTF_ids`);
}

test('regenerate, fresh, restore and a renumbering base all leave .BTF_ids as resolve_btfids would', async (t) => {
  const dir = tempDir(t);
  const tree = path.join(dir, 'tree');
  await mkdir(tree);
  const module = path.join(tree, 'btfids_fixture.ko');
  const [baseA, baseB] = [fixture('base.o'), fixture('base2.o')];
  const { engine } = testEngine(t);
  // The fixture's .BTF was encoded with pahole's default flags; so is btfd's.
  const build = (base: string) => engine.build({ dir: tree, base, paholeFlags: '' });

  await copyFile(fixture('pristine.ko'), module);
  const cold = await build(baseA);
  assert.deepEqual([cold.regenerated, cold.failed], [1, 0], JSON.stringify(cold.failures));
  await assertSections(module, fixture('resolved-6.1.ko'), 'regenerated');

  assert.equal((await build(baseA)).fresh, 1, 'the resolved module is fresh');

  // Relinked (pristine .BTF_ids again): restored with the resolved section.
  await copyFile(fixture('pristine.ko'), module);
  assert.equal((await build(baseA)).restored, 1);
  await assertSections(module, fixture('resolved-6.1.ko'), 'restored');

  // kbuild's own resolve_btfids already ran: same key, same bytes, nothing to do.
  await copyFile(fixture('resolved-6.1.ko'), module);
  assert.equal((await build(baseA)).fresh, 1, 'a module resolved by the real tool is fresh');

  // A base that renumbers every type: the resolved module is read back to its pristine form
  // (its kfunc flags put back with the base of its last build), then encoded and resolved anew.
  const onB = await build(baseB);
  assert.deepEqual([onB.regenerated, onB.failed], [1, 0], JSON.stringify(onB.failures));
  await assertSections(module, fixture('resolved-6.1-base2.ko'), 'renumbered');

  // Back to the first base: restored, resolved for it again.
  assert.equal((await build(baseA)).restored, 1);
  await assertSections(module, fixture('resolved-6.1.ko'), 'restored after the base came back');
});

test('a module resolved against a base btfd never saw is refused, untouched, until built with that base', async (t) => {
  const dir = tempDir(t);
  const tree = path.join(dir, 'tree');
  await mkdir(tree);
  const module = path.join(tree, 'btfids_fixture.ko');
  await copyFile(fixture('resolved-6.1.ko'), module);
  const { engine } = testEngine(t);
  const refused = await engine.build({ dir: tree, base: fixture('base2.o'), paholeFlags: '' });
  assert.equal(refused.failed, 1);
  assert.equal(refused.failures[0]!.error!.code, 'BTFD_ERR_MODULE_BTF_IDS_STALE');
  await assertSections(module, fixture('resolved-6.1.ko'), 'untouched');

  // Once btfd has seen the base it was resolved against, it can move it to another.
  assert.equal((await engine.build({ dir: tree, base: fixture('base.o'), paholeFlags: '' })).regenerated, 1);
  const moved = await engine.build({ dir: tree, base: fixture('base2.o'), paholeFlags: '' });
  assert.deepEqual([moved.regenerated, moved.failed], [1, 0], JSON.stringify(moved.failures));
  await assertSections(module, fixture('resolved-6.1-base2.ko'), 'moved');
});

test("drop-in: btfd writes only what pahole writes, and kbuild's resolve_btfids afterwards keeps the key (next call is fresh)", async (t) => {
  const dir = tempDir(t);
  const module = path.join(dir, 'btfids_fixture.ko');
  // A freshly linked module: no .BTF yet, .BTF_ids as the assembler wrote it.
  await copyFile(fixture('pristine.ko'), module);
  await execFileAsync('objcopy', ['--remove-section', '.BTF', module]);
  const { engine } = testEngine(t);
  const request = { module, base: fixture('base.o'), flags: '', detachedOut: null };
  const first = await engine.encodeForPahole(request);
  assert.equal(first.outcome, 'regenerated', JSON.stringify(first));
  assert.deepEqual(await section(module, '.BTF'), await section(fixture('pristine.ko'), '.BTF'));
  assert.deepEqual(await section(module, '.BTF_ids'), await section(fixture('pristine.ko'), '.BTF_ids'), '.BTF_ids left for kbuild');

  // kbuild's resolve_btfids: the real tool's bytes for this .BTF (test/data/btf-ids/resolved-6.1.ko).
  await installSections(module, new Map([['.BTF_ids', (await section(fixture('resolved-6.1.ko'), '.BTF_ids'))!]]));
  const second = await engine.encodeForPahole(request);
  assert.equal(second.outcome, 'fresh', JSON.stringify(second));
});
