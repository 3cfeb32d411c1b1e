/**
 * Nothing is stored or installed under inputs it was not computed from: the base or a module
 * swapped at a chosen moment of a build (through the engine's test hook, not a sleep), and a
 * poisoned cache entry. The oracle is serial pahole (deterministic) on the inputs a key names.
 */
import assert from 'node:assert/strict';
import { copyFile, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { encodeArtifact } from '../../daemon/engine/artifact.js';
import { readSections } from '../../daemon/elf/elf-file.js';
import { createFixtureKernel, writeVmlinuxVariant, type FixtureKernel } from '../fixtures/fixture-kernel.js';
import { execFileAsync, tempDir, testEngine } from '../helpers/engine-harness.js';

/** What serial pahole writes for this module on this base: the truth for their key. */
async function paholeBtf(module: string, base: string, dir: string): Promise<Buffer> {
  const out = path.join(dir, `${path.basename(module)}-${Date.now()}-${Math.random()}.btf`);
  await execFileAsync(process.env.BTFD_PAHOLE ?? 'pahole', ['-J', '--btf_base', base, `--btf_encode_detached=${out}`, module]);
  return readFile(out);
}

async function btfOf(module: string): Promise<Buffer | undefined> {
  return (await readSections(module, ['.BTF'])).get('.BTF');
}

/** Relink every module: fresh linker output, no .BTF (as kbuild leaves them before pahole). */
async function relinkAll(kernel: FixtureKernel, pristine: FixtureKernel): Promise<void> {
  for (const [i, module] of kernel.modules.entries()) await copyFile(pristine.modules[i]!, module);
}

test('vmlinux replaced while a build runs: every stored artifact is pahole on the base its key names', async (t) => {
  const dir = tempDir(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const pristine = await createFixtureKernel(path.join(dir, 'pristine'));
  const variants = await createFixtureKernel(path.join(dir, 'variants'));
  await writeVmlinuxVariant(variants, 'typechange');
  const baseA = path.join(dir, 'vmlinux-a');
  await copyFile(kernel.vmlinux, baseA);
  let swapped = false;
  const { engine } = testEngine(t, {}, {
    // The first regeneration hands its task over after vmlinux was relinked with other types.
    beforeRegenerate: async () => {
      if (swapped) return;
      swapped = true;
      await copyFile(variants.vmlinux, `${kernel.vmlinux}.new`);
      await rename(`${kernel.vmlinux}.new`, kernel.vmlinux);
    },
  });
  const first = await engine.build({ dir: kernel.dir, paholeFlags: '' });
  assert.ok(swapped);
  assert.deepEqual(first.failures, []);
  // Every module got BTF for the base the build keyed on: the one it saw when it started.
  for (const module of kernel.modules) assert.deepEqual(await btfOf(module), await paholeBtf(pristine.modules[kernel.modules.indexOf(module)]!, baseA, dir), module);

  // Back to base A, modules relinked: whatever is restored must be pahole's output on A.
  await copyFile(baseA, kernel.vmlinux);
  await relinkAll(kernel, pristine);
  const again = await engine.build({ dir: kernel.dir, paholeFlags: '' });
  assert.equal(again.restored, kernel.modules.length);
  for (const [i, module] of kernel.modules.entries()) assert.deepEqual(await btfOf(module), await paholeBtf(pristine.modules[i]!, baseA, dir), module);

  // And on the new base, nothing is restored from A's artifacts: each is relocated (exactly what
  // pahole writes on B) or regenerated.
  await writeVmlinuxVariant(kernel, 'typechange');
  const onB = await engine.build({ dir: kernel.dir, paholeFlags: '' });
  assert.deepEqual([onB.restored, onB.relocated + onB.regenerated], [0, kernel.modules.length]);
  for (const [i, module] of kernel.modules.entries()) assert.deepEqual(await btfOf(module), await paholeBtf(pristine.modules[i]!, variants.vmlinux, dir), module);
});

test('a module replaced while its regeneration waits: re-planned, and its old key never gets the new BTF', async (t) => {
  const dir = tempDir(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const pristine = await createFixtureKernel(path.join(dir, 'pristine'));
  const [victim, other] = [kernel.modules[0]!, kernel.modules[1]!];
  let swaps = 0;
  const { engine } = testEngine(t, {}, {
    beforeRegenerate: async (modulePath) => {
      if (modulePath !== victim || swaps > 0) return;
      swaps++;
      // A relink writes another module's content under this name while the task is queued.
      await copyFile(pristine.modules[1]!, `${victim}.new`);
      await rename(`${victim}.new`, victim);
    },
  });
  const report = await engine.build({ dir: kernel.dir, modules: [victim, other], paholeFlags: '' });
  assert.equal(swaps, 1);
  assert.deepEqual(report.failures, []);
  // The victim now holds the other module's content, and BTF for that content.
  assert.deepEqual(await btfOf(victim), await paholeBtf(pristine.modules[1]!, kernel.vmlinux, dir));

  // The victim's original content comes back: its key must give its own BTF, not the other's.
  await copyFile(pristine.modules[0]!, victim);
  await engine.build({ dir: kernel.dir, modules: [victim], paholeFlags: '' });
  assert.deepEqual(await btfOf(victim), await paholeBtf(pristine.modules[0]!, kernel.vmlinux, dir));
});

test('a cache entry whose artifact was made on another base is never installed', async (t) => {
  const dir = tempDir(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const pristine = await createFixtureKernel(path.join(dir, 'pristine'));
  const { engine, store } = testEngine(t);
  const module = kernel.modules[0]!;
  await engine.build({ dir: kernel.dir, modules: [module], paholeFlags: '' });
  const onA = (await readSections(module, ['.BTF'])).get('.BTF')!;
  const keyA = (await engine.explain(module, { paholeFlags: '' })).key;

  await writeVmlinuxVariant(kernel, 'typechange');
  await copyFile(pristine.modules[0]!, module);
  const explainedB = await engine.explain(module, { paholeFlags: '' });
  assert.equal(explainedB.verdict, 'relocate', 'only its artifact on A is cached');
  // The key's inputs as the engine keys them: recipe and flags by value, the rest by digest.
  const input = (name: string) => explainedB.inputs.find((i) => i.name === name)!;
  const inputsB = { recipe: input('recipe').value, tool: input('tool').digest, flags: input('flags').value, base: input('base').digest, module: input('module').digest };
  const sectionsA = new Map([['.BTF', onA]]);
  const entryA = (await store.artifacts.lookup(keyA))!;
  const meta = { outputsDigest: entryA.outputsDigest, inputs: inputsB, costMs: 1 };
  // Two poisonings: B's key naming A's blob (honest about its inputs), and a blob that lies about
  // its inputs, carrying A's .BTF under B's. The first is refused by its inputs, the second by
  // the split check against B.
  const honest = (await store.artifacts.read(entryA.artifactDigest))!;
  for (const blob of [honest, encodeArtifact({ inputs: inputsB, sections: sectionsA })]) {
    await store.artifacts.put(explainedB.key, blob, meta);
    assert.equal((await engine.explain(module, { paholeFlags: '' })).verdict, 'restore', 'the poisoned entry is there');
    const report = await engine.build({ dir: kernel.dir, modules: [module], paholeFlags: '' });
    assert.equal(report.regenerated, 1, JSON.stringify(report.results));
    assert.deepEqual(await btfOf(module), await paholeBtf(pristine.modules[0]!, kernel.vmlinux, dir));
    await copyFile(pristine.modules[0]!, module);
  }
  assert.ok(store.counters.read().corrupt >= 2, 'both were discarded as corrupt');
});
