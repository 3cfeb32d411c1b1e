/**
 * `.BTF_ids` resolution against the real resolve_btfids: a fixture module before and after the
 * kernel's own tool (test/data/btf-ids, built from Linux 6.1 and 6.12 sources), and Debian's own
 * module bytes (test/data/debian-6.1-cloud).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { btfIdsNeedLookups, parseBtfIdsLayout, pristineBtfIds, resolveBtfIds, type BtfIdsSource } from '../../daemon/btf/btf-ids.js';
import type { NameLookup } from '../../daemon/btf/btf-names.js';
import { digestModule } from '../../daemon/elf/elf-digest.js';
import { readSections } from '../../daemon/elf/elf-file.js';
import { readBtfIdsSource } from '../../daemon/elf/elf-symbols.js';
import { moduleDigestOptions, splitLookup, viewOf, type BaseView } from '../../daemon/engine/module-btf-ids.js';
import { BTF_IDS_DATA, DEBIAN_61_DATA } from '../helpers/test-data.js';

const fixture = (name: string): string => path.join(BTF_IDS_DATA, name);

async function sourceOf(file: string): Promise<BtfIdsSource> {
  const source = await readBtfIdsSource(file);
  assert.ok(source, `${file} has a .BTF_ids section and a symbol table`);
  return source;
}

async function sectionOf(file: string, name: string): Promise<Buffer> {
  const bytes = (await readSections(file, [name])).get(name);
  assert.ok(bytes, `${file} has ${name}`);
  return bytes;
}

async function baseView(file: string): Promise<BaseView> {
  return viewOf(file.endsWith('.btf') ? fs.readFileSync(file) : await sectionOf(file, '.BTF'), file);
}

/** The lookup resolve_btfids uses: the base, then the module's own .BTF. */
async function lookupFor(base: string, module: string): Promise<NameLookup> {
  const lookup = splitLookup(await baseView(base), await sectionOf(module, '.BTF'));
  assert.ok(lookup, `${module}'s .BTF parses on ${base}`);
  return lookup;
}

/** resolve_btfids' "unresolved symbol" warnings, as it printed them for the fixture. */
function unresolvedWarnings(stderrFile: string): string[] {
  return fs.readFileSync(fixture(stderrFile), 'utf8').split('\n').filter((line) => line.includes('unresolved symbol'));
}

function tempDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'btfd-ids-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('resolving the pristine fixture gives the real resolve_btfids bytes (6.1 and 6.12) and its warnings', async () => {
  const pristine = await sourceOf(fixture('pristine.ko'));
  const layout = parseBtfIdsLayout(pristine);
  const resolved = resolveBtfIds(layout, pristine.bytes, await lookupFor(fixture('base.o'), fixture('pristine.ko')));
  assert.deepEqual(resolved.bytes, (await sourceOf(fixture('resolved-6.1.ko'))).bytes);
  assert.deepEqual(resolved.bytes, (await sourceOf(fixture('resolved-6.12.ko'))).bytes);
  assert.deepEqual(resolved.warnings, unresolvedWarnings('stderr-6.1.txt'));
  assert.deepEqual(pristine.bytes, (await sourceOf(fixture('pristine.ko'))).bytes, 'the input is not modified');
});

test('a module renumbered onto another base gets every slot from that base (real tool on base2)', async () => {
  const pristine = await sourceOf(fixture('pristine-base2.ko'));
  const resolved = resolveBtfIds(parseBtfIdsLayout(pristine), pristine.bytes, await lookupFor(fixture('base2.o'), fixture('pristine-base2.ko')));
  assert.deepEqual(resolved.bytes, (await sourceOf(fixture('resolved-6.1-base2.ko'))).bytes);
  assert.deepEqual(resolved.warnings, unresolvedWarnings('stderr-6.1-base2.txt'));
});

test('a resolved section is put back in its pristine form, kfunc flags in their own slots', async () => {
  const pristineBytes = (await sourceOf(fixture('pristine.ko'))).bytes;
  for (const [module, base] of [['resolved-6.1.ko', 'base.o'], ['resolved-6.1-base2.ko', 'base2.o']] as const) {
    const resolved = await sourceOf(fixture(module));
    const layout = parseBtfIdsLayout(resolved);
    assert.equal(btfIdsNeedLookups(layout, resolved.bytes), true, 'its set8s have mixed flags');
    // The other base: the module's .BTF may not even parse on it; when it does, its ids are wrong.
    const other = splitLookup(await baseView(fixture(base === 'base.o' ? 'base2.o' : 'base.o')), await sectionOf(fixture(module), '.BTF'));
    const wrong = other ? [other] : [];
    const right = await lookupFor(fixture(base), fixture(module));
    // A candidate that does not reproduce the sorted sets is skipped, the one that does is used.
    assert.deepEqual(pristineBtfIds(layout, resolved.bytes, [...wrong, right]), pristineBytes, module);
    assert.throws(() => pristineBtfIds(layout, resolved.bytes, wrong), { code: 'BTFD_ERR_MODULE_BTF_IDS_STALE' });
    assert.throws(() => pristineBtfIds(layout, resolved.bytes, []), { code: 'BTFD_ERR_MODULE_BTF_IDS_STALE' });
  }
  // Already pristine: nothing to attribute, and the bytes stay as they are.
  const pristine = await sourceOf(fixture('pristine.ko'));
  const layout = parseBtfIdsLayout(pristine);
  assert.equal(btfIdsNeedLookups(layout, pristine.bytes), false);
  assert.deepEqual(pristineBtfIds(layout, pristine.bytes, []), pristineBytes);
});

test('unlike the real tool, re-resolving through btfd is idempotent', async () => {
  const resolved = await sourceOf(fixture('resolved-6.1.ko'));
  const layout = parseBtfIdsLayout(resolved);
  const lookup = await lookupFor(fixture('base.o'), fixture('resolved-6.1.ko'));
  const again = resolveBtfIds(layout, pristineBtfIds(layout, resolved.bytes, [lookup]), lookup);
  assert.deepEqual(again.bytes, resolved.bytes);
  // What resolve_btfids does on a resolved module: ids written back at their slots, sorted again.
  const naive = resolveBtfIds(layout, resolved.bytes, lookup);
  assert.notDeepEqual(naive.bytes, resolved.bytes, 'the fixture shows the real non-idempotence');
});

test('the module digest is the same before and after resolution, and sees a changed kfunc flag', async (t) => {
  const options = moduleDigestOptions({ bases: [() => baseView(fixture('base.o'))] });
  const pristine = await digestModule(fixture('pristine.ko'), options);
  const resolved = await digestModule(fixture('resolved-6.1.ko'), options);
  assert.equal(resolved.digest, pristine.digest);
  assert.deepEqual(resolved.btfIdsPristine, pristine.btfIds?.bytes);
  // Without the base it was resolved against, the mixed-flag set8s cannot be attributed.
  await assert.rejects(digestModule(fixture('resolved-6.1.ko'), moduleDigestOptions()), { code: 'BTFD_ERR_MODULE_BTF_IDS_STALE' });

  // Flip one KF_* flag bit in the pristine module: a different module, a different digest.
  const dir = tempDir(t);
  const changed = path.join(dir, 'changed.ko');
  const bytes = fs.readFileSync(fixture('pristine.ko'));
  const section = (await readBtfIdsSource(fixture('pristine.ko')))!;
  const sectionAt = bytes.indexOf(section.bytes);
  assert.ok(sectionAt > 0);
  // fixture_set8 is at 0x5c: header (8 bytes), then pair 0's id (4) and flags (4).
  bytes[sectionAt + 0x5c + 8 + 4]! ^= 0x08;
  fs.writeFileSync(changed, bytes);
  assert.notEqual((await digestModule(changed, options)).digest, pristine.digest);
});

test("Debian's .BTF_ids, zeroed and resolved against the distro .BTF, are the distro's bytes", async () => {
  const base = await baseView(path.join(DEBIAN_61_DATA, 'vmlinux.btf'));
  for (const name of ['tcp_bbr', 'tcp_dctcp']) {
    const module = path.join(DEBIAN_61_DATA, 'kernel/net/ipv4', `${name}.ko`);
    const distro = await sourceOf(module);
    const layout = parseBtfIdsLayout(distro);
    assert.equal(btfIdsNeedLookups(layout, distro.bytes), false, `${name}: its kfunc set has uniform flags`);
    const zeroed = pristineBtfIds(layout, distro.bytes, []);
    assert.ok(zeroed.every((b) => b === 0), `${name}: pristine is all zeros (ids, counts, flags 0)`);
    const lookup = splitLookup(base, await sectionOf(module, '.BTF'));
    assert.ok(lookup);
    const resolved = resolveBtfIds(layout, zeroed, lookup);
    assert.deepEqual(resolved.bytes, distro.bytes, name);
    assert.deepEqual(resolved.warnings, []);
  }
});

test('symbols resolve_btfids refuses are refused with a code', () => {
  const section = Buffer.alloc(64);
  const refuse = (symbols: BtfIdsSource['symbols']) =>
    assert.throws(() => parseBtfIdsLayout({ bytes: section, addr: 0, symbols }), { code: 'BTFD_ERR_MODULE_BTF_IDS_INVALID' });
  refuse([{ name: '__BTF_ID__func__nosuffix', value: 0, size: 0 }]);
  refuse([{ name: '__BTF_ID__enum__e__1', value: 0, size: 0 }]);
  refuse([{ name: '__BTF_ID__set8__', value: 0, size: 16 }]);
  refuse([{ name: '__BTF_ID__set__s', value: 0, size: 8 }, { name: '__BTF_ID__set__s', value: 8, size: 8 }]);
  refuse([{ name: '__BTF_ID__func__f__1', value: 64, size: 0 }]);
  // A set whose symbol size runs past the section cannot be sorted.
  const layout = parseBtfIdsLayout({ bytes: section, addr: 0, symbols: [{ name: '__BTF_ID__set__big', value: 0, size: 1024 }] });
  assert.throws(() => resolveBtfIds(layout, section, () => 0), { code: 'BTFD_ERR_MODULE_BTF_IDS_INVALID' });
});
