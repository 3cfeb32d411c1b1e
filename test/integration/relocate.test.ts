/**
 * Relocation end to end, against the oracle of serial pahole on the new base: a real Debian tree
 * built on its vmlinux BTF, then on bases that differ from it (functions added, functions removed,
 * types reordered, a widely used struct changed), and a property test over random bases on the
 * fixture kernel: every module relocated is byte for byte what pahole writes; every refusal is
 * regenerated.
 */
import assert from 'node:assert/strict';
import { chmod, cp, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { growStruct, insertFunctions, permuteBase, removeFunctions } from '../helpers/btf-edit.js';
import { BTF_KIND, nameOf, parseBtf } from '../../daemon/btf/btf-reader.js';
import { readSections } from '../../daemon/elf/elf-file.js';
import { createFixtureKernel } from '../fixtures/fixture-kernel.js';
import { btfIdsProblems } from '../helpers/btf-ids-check.js';
import { bpftoolPath, execFileAsync, tempDir, testEngine } from '../helpers/engine-harness.js';
import { DEBIAN_61_DATA } from '../helpers/test-data.js';

const PAHOLE = process.env.BTFD_PAHOLE ?? 'pahole';
/** Debian 6.1's flags; btfd runs pahole without -j, and so does the oracle. */
const FLAGS = '--btf_gen_floats -j --lang_exclude=rust';

/** What serial pahole writes for this module on this base. */
async function paholeOn(module: string, base: string, flags: string, scratch: string): Promise<Buffer> {
  const out = path.join(scratch, `${path.basename(module)}-${Math.random().toString(16).slice(2)}.btf`);
  const args = flags.split(' ').filter((f) => f !== '' && f !== '-j');
  await execFileAsync(PAHOLE, ['-J', ...args, '--btf_base', base, `--btf_encode_detached=${out}`, module]);
  return readFile(out);
}

async function btfOf(module: string): Promise<Buffer> {
  return (await readSections(module, ['.BTF'])).get('.BTF')!;
}

async function modulesIn(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith('.ko')).map((e) => path.join(e.parentPath, e.name)).sort();
}

test('a real tree moves onto new bases by relocation, exactly as pahole would encode it, refusing where it must', async (t) => {
  const dir = tempDir(t);
  const tree = path.join(dir, 'tree');
  await cp(path.join(DEBIAN_61_DATA, 'kernel'), tree, { recursive: true });
  const modules = await modulesIn(tree);
  for (const module of modules) await chmod(module, 0o644);
  const baseA = path.join(DEBIAN_61_DATA, 'vmlinux.btf');
  const a = parseBtf(await readFile(baseA));
  const bases: Record<string, Buffer> = {
    'functions added': insertFunctions(a, ['btfd_probe_a', 'btfd_probe_b']),
    'functions removed': removeFunctions(a, 20, 3).base,
    'types reordered': permuteBase(a, 11),
    'sk_buff changed': growStruct(a, 'sk_buff'),
  };
  const { engine } = testEngine(t);
  const cold = await engine.build({ dir: tree, base: baseA, paholeFlags: FLAGS });
  assert.deepEqual([cold.regenerated, cold.failed], [modules.length, 0], JSON.stringify(cold.failures));

  for (const [name, bytes] of Object.entries(bases)) {
    const base = path.join(dir, `${name.replace(/\W/g, '-')}.btf`);
    await writeFile(base, bytes);
    const report = await engine.build({ dir: tree, base, paholeFlags: FLAGS });
    assert.equal(report.failed, 0, `${name}: ${JSON.stringify(report.failures)}`);
    assert.equal(report.relocated + report.regenerated, modules.length, name);
    t.diagnostic(`${name}: ${report.relocated} relocated, ${report.regenerated} regenerated`);
    for (const result of report.results) {
      assert.deepEqual(await btfOf(result.path), await paholeOn(result.path, base, FLAGS, dir), `${name}: ${path.basename(result.path)} (${result.outcome})`);
      assert.deepEqual(await btfIdsProblems(result.path, base, bpftoolPath()), [], `${name}: ${path.basename(result.path)} .BTF_ids`);
      if (result.outcome === 'relocated') assert.match(result.reason, /^relocated from base [0-9a-f]{12} \(base BTF changed\)$/);
      else assert.match(result.reason, /relocation from base [0-9a-f]{12} refused: .+; regenerated/);
    }
    if (name === 'sk_buff changed') assert.equal(report.relocated, 0, 'a change every module reaches relocates nothing');
    else assert.equal(report.relocated, modules.length, `${name}: every module relocates`);
    // Back to A for the next base: all restored from the cache, nothing encoded.
    assert.equal((await engine.build({ dir: tree, base: baseA, paholeFlags: FLAGS })).restored, modules.length);
  }

  // --no-relocate: regenerate instead.
  const other = path.join(dir, 'other.btf');
  await writeFile(other, permuteBase(a, 12));
  const off = await engine.build({ dir: tree, base: other, paholeFlags: FLAGS, relocate: false });
  assert.deepEqual([off.relocated, off.regenerated], [0, modules.length]);
});

test('property: over random bases, whatever is relocated is what pahole writes', async (t) => {
  const dir = tempDir(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const baseA = path.join(dir, 'a.btf');
  const a = (await readSections(kernel.vmlinux, ['.BTF'])).get('.BTF')!;
  await writeFile(baseA, a);
  const parsed = parseBtf(a);
  const structs = Array.from({ length: parsed.count }, (_, i) => i).filter((i) => parsed.kinds[i] === BTF_KIND.STRUCT);
  const { engine } = testEngine(t);
  assert.equal((await engine.build({ dir: kernel.dir, base: baseA, paholeFlags: '' })).regenerated, kernel.modules.length);
  let relocated = 0;
  let checked = 0;
  for (let seed = 1; seed <= 6; seed++) {
    // Each round: reorder, remove some functions, and maybe change a struct picked by the seed.
    let base = parseBtf(permuteBase(parsed, seed));
    base = parseBtf(removeFunctions(base, seed, seed).base);
    if (seed % 2 === 0) {
      const struct = structs[(seed * 7919) % structs.length]!;
      const name = nameOf(parsed, struct + 1);
      if (name) base = parseBtf(growStruct(base, name));
    }
    const file = path.join(dir, `b${seed}.btf`);
    await writeFile(file, base.bytes);
    const report = await engine.build({ dir: kernel.dir, base: file, paholeFlags: '' });
    assert.equal(report.failed, 0, JSON.stringify(report.failures));
    for (const result of report.results) {
      assert.deepEqual(await btfOf(result.path), await paholeOn(result.path, file, '', dir), `seed ${seed}: ${path.basename(result.path)} (${result.outcome})`);
      checked++;
      if (result.outcome === 'relocated') relocated++;
    }
    // Back to A so the next round relocates from A again.
    await engine.build({ dir: kernel.dir, base: baseA, paholeFlags: '' });
  }
  t.diagnostic(`${relocated} of ${checked} module builds relocated, all equal to pahole`);
  assert.ok(relocated > 0, 'the property was exercised');
});
