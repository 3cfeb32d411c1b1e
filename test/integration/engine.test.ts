/**
 * The engine end to end on the fixture kernel, with the real pahole, store and worker pool.
 */
import assert from 'node:assert/strict';
import { chmod, copyFile, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { decodeArtifact } from '../../daemon/engine/artifact.js';
import { moduleDigestOptions } from '../../daemon/engine/module-btf-ids.js';
import { digestModule } from '../../daemon/elf/elf-digest.js';
import { readElfLayout, readSections } from '../../daemon/elf/elf-file.js';
import { SCENARIOS } from '../demo/demo-scenarios.js';
import { changeModule, createFixtureKernel, writeVmlinuxVariant } from '../fixtures/fixture-kernel.js';
import { bpftoolPath, dumpSection, execFileAsync, tempDir, testEngine } from '../helpers/engine-harness.js';

const DISTRO_FLAGS = '--btf_gen_floats -j --lang_exclude=rust';
const MODULE_DIGEST = moduleDigestOptions();

test('the module digest ignores the BTF step: before pahole, after pahole, after install, after objcopy', async (t) => {
  const dir = tempDir(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const module = kernel.modules[0]!;
  const before = await digestModule(module, MODULE_DIGEST);
  assert.equal(before.outputs.size, 0, 'fixture modules start without .BTF');

  const viaPahole = path.join(dir, 'pahole.ko');
  await copyFile(module, viaPahole);
  await execFileAsync(process.env.BTFD_PAHOLE ?? 'pahole', ['-J', ...DISTRO_FLAGS.split(' '), '--btf_base', kernel.vmlinux, viaPahole], { env: { ...process.env, LLVM_OBJCOPY: 'objcopy' } });
  const afterPahole = await digestModule(viaPahole, MODULE_DIGEST);
  assert.ok(afterPahole.outputs.has('.BTF'));
  assert.equal(afterPahole.digest, before.digest);

  const btf = afterPahole.outputs.get('.BTF')!;
  const btfFile = path.join(dir, 'm.btf');
  await writeFile(btfFile, btf);
  const viaObjcopy = path.join(dir, 'objcopy.ko');
  await execFileAsync('objcopy', ['--add-section', `.BTF=${btfFile}`, module, viaObjcopy]);
  assert.equal((await digestModule(viaObjcopy, MODULE_DIGEST)).digest, before.digest);

  const { engine } = testEngine(t);
  const report = await engine.build({ dir: kernel.dir, paholeFlags: DISTRO_FLAGS });
  assert.equal(report.regenerated, kernel.modules.length);
  assert.equal((await digestModule(module, MODULE_DIGEST)).digest, before.digest, 'after btfd installed .BTF');

  // A change to the module's own code must change the digest, or the key would be blind to it.
  await changeModule(kernel, path.basename(module, '.ko'));
  assert.notEqual((await digestModule(module, MODULE_DIGEST)).digest, before.digest);
});

test('restore patches the cached artifact in and leaves every other section byte-identical', async (t) => {
  const dir = tempDir(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const { engine, store } = testEngine(t);
  const cold = await engine.build({ dir: kernel.dir });
  assert.equal(cold.regenerated, kernel.modules.length);

  // Simulate kbuild relinking every module: the linker output has no .BTF.
  const pristine = path.join(dir, 'pristine');
  const fresh = await createFixtureKernel(pristine);
  for (const [i, module] of kernel.modules.entries()) await copyFile(fresh.modules[i]!, module);

  const restore = await engine.build({ dir: kernel.dir });
  assert.deepEqual([restore.restored, restore.regenerated, restore.fresh, restore.failed], [kernel.modules.length, 0, 0, 0]);

  for (const [i, module] of kernel.modules.entries()) {
    const input = fresh.modules[i]!;
    const explanation = await engine.explain(module);
    assert.equal(explanation.verdict, 'fresh');
    const action = await store.artifacts.lookup(explanation.key);
    assert.ok(action, `cache entry for ${module}`);
    const artifact = decodeArtifact((await store.artifacts.read(action.artifactDigest))!);
    const btf = await dumpSection(module, '.BTF', dir);
    assert.deepEqual(btf, artifact.sections.get('.BTF'), `${module}: .BTF equals the artifact`);

    // Every section of the input keeps its index, header and bytes.
    const [inLayout, outLayout] = await Promise.all([readElfLayout(input), readElfLayout(module)]);
    assert.equal(outLayout.sections.length, inLayout.sections.length + 1, 'only .BTF was added');
    const names = inLayout.sections.map((s) => s.name).filter((n) => n !== '' && n !== '.shstrtab');
    const [inBytes, outBytes] = await Promise.all([readSections(input, names), readSections(module, names)]);
    for (const s of inLayout.sections) {
      const o = outLayout.sections[s.index]!;
      // The section-name table grows by ".BTF"; that is the one header allowed to change.
      if (s.name === '.shstrtab') continue;
      assert.deepEqual([o.name, o.type, o.flags, o.size, o.link, o.info, o.addralign, o.entsize], [s.name, s.type, s.flags, s.size, s.link, s.info, s.addralign, s.entsize]);
      if (names.includes(s.name)) assert.deepEqual(outBytes.get(s.name), inBytes.get(s.name), `${module}: ${s.name} unchanged`);
    }
    // The kernel's own tooling reads the result.
    const { stdout } = await execFileAsync(bpftoolPath(), ['-B', kernel.vmlinux, 'btf', 'dump', 'file', module]);
    assert.match(stdout, /STRUCT|FUNC/);
  }
});

test('the demo scenarios give exactly the expected counts', async (t) => {
  const dir = tempDir(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const { engine } = testEngine(t);
  const mtimes = () => Promise.all(kernel.modules.map(async (m) => (await stat(m)).mtimeMs));
  for (const scenario of SCENARIOS) {
    await scenario.change(kernel);
    const before = await mtimes();
    const report = await engine.build({ dir: kernel.dir });
    assert.deepEqual(report.failures, [], scenario.name);
    const expected = scenario.expect(kernel.modules.length);
    const counts = Object.fromEntries(Object.keys(expected).map((k) => [k, report[k as keyof typeof expected]]));
    assert.deepEqual(counts, expected, scenario.name);
    if (expected.fresh === kernel.modules.length) assert.deepEqual(await mtimes(), before, `${scenario.name}: fresh modules are not touched, not even their mtime`);
  }
});

test('a corrupted cache blob is a miss: dropped, regenerated, and the module still ends right', async (t) => {
  const dir = tempDir(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const { engine, cacheDir, store } = testEngine(t);
  await engine.build({ dir: kernel.dir });
  const module = kernel.modules[0]!;
  const good = await readSections(module, ['.BTF']);
  const { key } = await engine.explain(module);
  const digest = (await store.artifacts.lookup(key))!.artifactDigest;
  const blob = path.join(cacheDir, 'cas', digest.slice(0, 2), digest);
  await chmod(blob, 0o600);
  const bytes = await readFile(blob);
  bytes[bytes.length - 1]! ^= 0xff;
  await writeFile(blob, bytes);

  const pristine = await createFixtureKernel(path.join(dir, 'pristine'));
  await copyFile(pristine.modules[0]!, module);
  const report = await engine.build({ dir: kernel.dir, modules: [module] });
  assert.equal(report.regenerated, 1, JSON.stringify(report.results));
  assert.equal(report.results[0]!.reason, 'cache entry was unusable; regenerated (output sections missing or altered)');
  // btfd runs pahole without -j, so its output is reproducible: the same bytes again.
  assert.deepEqual((await readSections(module, ['.BTF'])).get('.BTF'), good.get('.BTF'));
});

test('bad input gets a coded failure and the files stay untouched', async (t) => {
  const dir = tempDir(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const { engine } = testEngine(t);

  const garbage = path.join(kernel.dir, 'drivers', 'garbage.ko');
  await writeFile(garbage, Buffer.from('this is not an ELF file at all, just text'));
  const truncated = path.join(kernel.dir, 'drivers', 'truncated.ko');
  await writeFile(truncated, (await readFile(kernel.modules[0]!)).subarray(0, 300));
  const stripped = path.join(kernel.dir, 'drivers', 'nodwarf.ko');
  await execFileAsync('objcopy', ['--strip-debug', kernel.modules[0]!, stripped]);
  const before = await Promise.all([garbage, truncated, stripped].map((f) => readFile(f)));

  const report = await engine.build({ dir: kernel.dir });
  const codeOf = (file: string) => report.results.find((r) => r.path === file)?.error?.code;
  assert.equal(codeOf(garbage), 'BTFD_ERR_ELF_NOT_ELF');
  assert.equal(codeOf(truncated), 'BTFD_ERR_ELF_TRUNCATED');
  assert.equal(codeOf(stripped), 'BTFD_ERR_MODULE_NO_DWARF');
  assert.equal(report.failed, 3);
  assert.equal(report.regenerated, kernel.modules.length, 'the good modules are still built');
  const after = await Promise.all([garbage, truncated, stripped].map((f) => readFile(f)));
  assert.deepEqual(after, before);

  await assert.rejects(engine.build({ dir: kernel.dir, base: path.join(dir, 'nope') }), { code: 'BTFD_ERR_BASE_MISSING' });
  await assert.rejects(engine.build({ dir: path.join(dir, 'missing-tree') }), { code: 'BTFD_ERR_TREE_NOT_FOUND' });
});

test('pahole failures and crashes are reported with their codes', async (t) => {
  const dir = tempDir(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const failing = path.join(dir, 'pahole-fails');
  // Both answer --version (wherever it is: the flags probe puts it last) as pahole does.
  const answerVersion = 'case " $* " in *" --version "*) echo v1.24; exit 0;; esac\n';
  await writeFile(failing, `#!/bin/sh\n${answerVersion}echo "pahole: simulated failure" >&2\nexit 3\n`, { mode: 0o755 });
  const crashing = path.join(dir, 'pahole-crashes');
  await writeFile(crashing, `#!/bin/sh\n${answerVersion}kill -SEGV $$\n`, { mode: 0o755 });
  const module = kernel.modules[0]!;
  const before = await readFile(module);

  const failed = await testEngine(t, { pahole: failing }).engine.build({ dir: kernel.dir, modules: [module] });
  assert.equal(failed.results[0]!.error?.code, 'BTFD_ERR_TOOL_PAHOLE_FAILED');
  assert.match(failed.results[0]!.reason, /simulated failure/);
  // The exact command, to run by hand: this pahole, -J, the flags, the base snapshot, the module.
  assert.match(failed.results[0]!.reason, new RegExp(`reproduce with: ${failing} -J .*--btf_base \\S+/bases/[0-9a-f]{64}\\.btf .*${module}$`));
  const crashed = await testEngine(t, { pahole: crashing }).engine.build({ dir: kernel.dir, modules: [module] });
  assert.equal(crashed.results[0]!.error?.code, 'BTFD_ERR_TOOL_PAHOLE_CRASHED');
  const missing = testEngine(t, { pahole: path.join(dir, 'no-such-pahole') }).engine.build({ dir: kernel.dir });
  await assert.rejects(missing, { code: 'BTFD_ERR_TOOL_PAHOLE_MISSING' });
  assert.deepEqual(await readFile(module), before);
});

test('explain names the input that changed since the last build', async (t) => {
  const dir = tempDir(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const { engine, store } = testEngine(t);
  await engine.build({ dir: kernel.dir });
  const module = kernel.modules[2]!;
  const first = await engine.explain(module);
  assert.equal(first.verdict, 'fresh');
  assert.ok(first.inputs.every((input) => input.previous === undefined));

  await writeVmlinuxVariant(kernel, 'typechange');
  await changeModule(kernel, path.basename(kernel.modules[3]!, '.ko'));
  // explain changes nothing: no base snapshot of the new vmlinux, no module record.
  const before = { bases: store.bases.list(), records: store.modules.list() };
  const second = await engine.explain(module);
  assert.equal(second.verdict, 'relocate', 'its artifact on the old base is cached');
  const changed = second.inputs.filter((input) => input.previous !== undefined).map((input) => input.name);
  assert.deepEqual(changed, ['base']);
  assert.match(second.reason, /base BTF changed/);
  assert.equal((await engine.explain(kernel.modules[3]!)).verdict, 'regenerate');
  assert.deepEqual({ bases: store.bases.list(), records: store.modules.list() }, before);
});
