/**
 * Debian 13's 6.12 modules with Debian 13's pahole 1.30 (installed by `npm test` into .cache/):
 * with Debian's own flags btfd reproduces the distro's `.BTF` and `.BTF_ids` byte for byte
 * (pahole 1.30 with reproducible_build is deterministic), including nf_conntrack's kfunc set8
 * with mixed flags; and modules with a distilled base (`.BTF.base`, kbuild's flags for external
 * modules) are installed, found fresh and restored, and read by libbpf 1.5's bpftool, which
 * relocates them onto vmlinux as the kernel does.
 */
import assert from 'node:assert/strict';
import { chmod, cp, readdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { readSections } from '../../daemon/elf/elf-file.js';
import { readBtfIdsSource } from '../../daemon/elf/elf-symbols.js';
import { bpftool130For } from '../tools/ensure-tools.js';
import { btfIdsProblems } from '../helpers/btf-ids-check.js';
import { execFileAsync, tempDir, testEngine } from '../helpers/engine-harness.js';
import { DEBIAN_612_DATA } from '../helpers/test-data.js';

const FEATURES = '--btf_features=encode_force,var,float,enum64,decl_tag,type_tag,optimized_func,consistent_func,decl_tag_kfuncs';
/** scripts/Makefile.btf of 6.12 for pahole 1.30, as Debian's reproducible build ran it. */
const DEBIAN_FLAGS = `-j ${FEATURES} -j --btf_features=+reproducible_build --lang_exclude=rust`;
const BASE = path.join(DEBIAN_612_DATA, 'vmlinux.btf');

function pahole130(): string {
  const found = process.env.BTFD_TEST_PAHOLE_130;
  assert.ok(found, 'npm test installs pahole 1.30 (test/tools/install-pahole-1.30.sh)');
  return found;
}

async function modulesIn(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith('.ko')).map((e) => path.join(e.parentPath, e.name)).sort();
}

async function copyTree(t: Parameters<typeof tempDir>[0]): Promise<{ tree: string; modules: string[] }> {
  const tree = path.join(tempDir(t), 'tree');
  await cp(path.join(DEBIAN_612_DATA, 'kernel'), tree, { recursive: true });
  const modules = await modulesIn(tree);
  for (const module of modules) await chmod(module, 0o644);
  return { tree, modules };
}

async function sectionsOf(module: string): Promise<{ btf: Buffer | undefined; base: Buffer | undefined; ids: Buffer | undefined }> {
  const found = await readSections(module, ['.BTF', '.BTF.base']);
  return { btf: found.get('.BTF'), base: found.get('.BTF.base'), ids: (await readBtfIdsSource(module))?.bytes };
}

test("Debian 6.12 with pahole 1.30 and Debian's flags: .BTF and .BTF_ids byte for byte, then fresh, then restored", async (t) => {
  const { tree, modules } = await copyTree(t);
  const distro = new Map<string, Awaited<ReturnType<typeof sectionsOf>>>();
  for (const module of modules) distro.set(module, await sectionsOf(module));
  // An empty cache: every module is regenerated. Their .BTF_ids come as resolve_btfids left them
  // (nf_conntrack's kfunc flags sorted away from their functions) and are read back through the
  // distro .BTF on this base.
  const { engine } = testEngine(t, { pahole: pahole130() });
  const cold = await engine.build({ dir: tree, base: BASE, paholeFlags: DEBIAN_FLAGS });
  assert.deepEqual(cold.failures, []);
  assert.equal(cold.regenerated, modules.length);
  for (const module of modules) {
    const now = await sectionsOf(module);
    assert.deepEqual(now.btf, distro.get(module)!.btf, `${path.basename(module)}: .BTF`);
    assert.deepEqual(now.ids, distro.get(module)!.ids, `${path.basename(module)}: .BTF_ids`);
    assert.deepEqual(await btfIdsProblems(module, BASE, 'bpftool'), [], path.basename(module));
  }
  assert.equal((await engine.build({ dir: tree, base: BASE, paholeFlags: DEBIAN_FLAGS })).fresh, modules.length);

  // .BTF stripped, .BTF_ids still resolved: read back through what btfd last installed.
  for (const module of modules) await execFileAsync('objcopy', ['--remove-section', '.BTF', module]);
  const restored = await engine.build({ dir: tree, base: BASE, paholeFlags: DEBIAN_FLAGS });
  assert.equal(restored.restored, modules.length, JSON.stringify(restored.failures));
  for (const module of modules) assert.deepEqual(await sectionsOf(module), distro.get(module), path.basename(module));
});

test('distilled base (.BTF.base): installed, fresh, restored, resolved against it, relocated by libbpf 1.5', async (t) => {
  const { tree, modules } = await copyTree(t);
  const chosen = modules.filter((m) => /\/(crc7|tcp_dctcp|nf_conntrack)\.ko$/.test(m));
  assert.equal(chosen.length, 3);
  const bpftool = bpftool130For(pahole130());
  const flags = `${DEBIAN_FLAGS} --btf_features=distilled_base`;
  const { engine } = testEngine(t, { pahole: pahole130() });
  const cold = await engine.build({ dir: tree, base: BASE, paholeFlags: flags, modules: chosen });
  assert.deepEqual([cold.regenerated, cold.failed], [chosen.length, 0], JSON.stringify(cold.failures));

  const installed = new Map<string, Awaited<ReturnType<typeof sectionsOf>>>();
  for (const module of chosen) {
    const now = await sectionsOf(module);
    assert.ok(now.base && now.base.length > 0, `${path.basename(module)} has a .BTF.base`);
    installed.set(module, now);
    // libbpf 1.5 relocates the split BTF from its distilled base onto vmlinux (btf__relocate).
    await execFileAsync(bpftool, ['btf', 'dump', 'file', module, '-B', BASE]);
    // resolve_btfids (6.12) resolves against the distilled base when there is one.
    assert.deepEqual(await btfIdsProblems(module, null, bpftool), [], path.basename(module));
  }
  assert.equal((await engine.build({ dir: tree, base: BASE, paholeFlags: flags, modules: chosen })).fresh, chosen.length);

  for (const module of chosen) await execFileAsync('objcopy', ['--remove-section', '.BTF', '--remove-section', '.BTF.base', module]);
  const restored = await engine.build({ dir: tree, base: BASE, paholeFlags: flags, modules: chosen });
  assert.equal(restored.restored, chosen.length, JSON.stringify(restored.failures));
  for (const module of chosen) assert.deepEqual(await sectionsOf(module), installed.get(module), path.basename(module));
});
