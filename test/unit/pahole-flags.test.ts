import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { flagsForPaholeVersion, normalizePaholeFlags, resolvePaholeFlags } from '../../daemon/engine/pahole-flags.js';
import { checkPaholeAccepts, parsePaholeVersion, resolvePaholeTool } from '../../daemon/engine/pahole-tool.js';
import type { BtfdError } from '../../shared/errors.js';
import { execFileAsync, tempDir } from '../helpers/engine-harness.js';
import { KBUILD_612 } from '../helpers/test-data.js';

/** kbuild 6.12's --btf_features list for pahole >= 1.26 (scripts/Makefile.btf). */
const FEATURES_612 = '--btf_features=encode_force,var,float,enum64,decl_tag,type_tag,optimized_func,consistent_func,decl_tag_kfuncs';

test('normalisation: spellings of the same request give one string', () => {
  const a = normalizePaholeFlags('--btf_gen_floats -j --lang_exclude=rust');
  assert.equal(a, normalizePaholeFlags('  -j4   --lang_exclude rust --btf_gen_floats '));
  assert.equal(a, normalizePaholeFlags('--jobs=8 --btf_gen_floats --lang_exclude=rust --btf_gen_floats'));
  assert.equal(
    normalizePaholeFlags('--btf_features=var,float --btf_features=enum64'),
    normalizePaholeFlags('--btf_features=enum64,float,var'),
  );
  assert.notEqual(a, normalizePaholeFlags('--btf_gen_floats -j'));
  assert.equal(normalizePaholeFlags(''), '');
  // pahole reads a leading '+' as "the default features, and these".
  assert.equal(normalizePaholeFlags('--btf_features=+reproducible_build'), normalizePaholeFlags('--btf_features=reproducible_build,default'));
  assert.notEqual(normalizePaholeFlags('--btf_features=+reproducible_build'), normalizePaholeFlags('--btf_features=reproducible_build'));
});

test('normalisation refuses what btfd sets itself, and stray words', () => {
  for (const bad of ['-J', '--btf_base vmlinux', '--btf_base=vmlinux', 'module.ko', '--btf_encode_detached=x', '--lang_exclude']) {
    assert.throws(() => normalizePaholeFlags(bad), { code: 'BTFD_ERR_TOOL_FLAGS_INVALID' }, bad);
  }
});

test('the version table follows the kernel scripts', () => {
  assert.equal(flagsForPaholeVersion(120), '--skip_encoding_btf_vars');
  assert.equal(flagsForPaholeVersion(124), '--btf_gen_floats -j --lang_exclude=rust');
  assert.match(flagsForPaholeVersion(125), /--btf_gen_optimized/);
  assert.match(flagsForPaholeVersion(127), /--btf_features=encode_force,var,float,enum64/);
  assert.equal(parsePaholeVersion('v1.24'), 124);
  assert.equal(parsePaholeVersion('1.30.1'), 130);
});

test('a kernel tree is asked through its own scripts/pahole-flags.sh, with PAHOLE set', async (t) => {
  const dir = tempDir(t);
  mkdirSync(path.join(dir, 'scripts'));
  // Like the kernel's script: it asks "$PAHOLE" for its version and chooses flags from it.
  writeFileSync(
    path.join(dir, 'scripts/pahole-flags.sh'),
    '#!/bin/sh\nver=$(${PAHOLE} --version)\n[ "$ver" = v1.24 ] && echo "--btf_gen_floats -j --lang_exclude=rust --from-tree"\n',
  );
  const tool = await resolvePaholeTool('pahole', process.env.PATH);
  assert.equal(tool.version, 'v1.24', 'these tests assume Debian 12 pahole');
  const resolved = await resolvePaholeFlags({ treeDir: dir, explicit: undefined, tool, searchPath: process.env.PATH ?? '' });
  assert.deepEqual(resolved, { flags: normalizePaholeFlags('--btf_gen_floats -j --lang_exclude=rust --from-tree'), source: 'scripts/pahole-flags.sh' });
  const explicit = await resolvePaholeFlags({ treeDir: dir, explicit: '-j', tool, searchPath: '' });
  assert.deepEqual(explicit, { flags: '-j', source: 'option' });
  const plain = await resolvePaholeFlags({ treeDir: tempDir(t), explicit: undefined, tool, searchPath: '' });
  assert.deepEqual(plain, { flags: normalizePaholeFlags(flagsForPaholeVersion(124)), source: 'pahole-version-table' });

  // A failing script is the tree's error, coded and quoted, never replaced by guessed flags.
  writeFileSync(path.join(dir, 'scripts/pahole-flags.sh'), '#!/bin/sh\necho "pahole-version.sh: not found" >&2\nexit 1\n');
  await assert.rejects(resolvePaholeFlags({ treeDir: dir, explicit: undefined, tool, searchPath: process.env.PATH ?? '' }), (err: BtfdError) => {
    assert.equal(err.code, 'BTFD_ERR_TREE_FLAGS_FAILED');
    assert.match(err.message, /scripts\/pahole-flags\.sh failed: .*pahole-version\.sh: not found/s);
    return true;
  });
  writeFileSync(path.join(dir, 'scripts/pahole-flags.sh'), '#!/bin/sh\necho "--btf_gen_floats garbage"\n');
  await assert.rejects(resolvePaholeFlags({ treeDir: dir, explicit: undefined, tool, searchPath: process.env.PATH ?? '' }), { code: 'BTFD_ERR_TREE_FLAGS_FAILED' });
});

test('a program that is not pahole is refused with a code, and so are flags pahole itself refuses', async (t) => {
  const dir = tempDir(t);
  const searchPath = process.env.PATH ?? '';
  await assert.rejects(resolvePaholeTool('/etc/passwd', searchPath), { code: 'BTFD_ERR_TOOL_PAHOLE_INVALID', message: /\/etc\/passwd is not an executable/ });
  await assert.rejects(resolvePaholeTool('echo', searchPath), { code: 'BTFD_ERR_TOOL_PAHOLE_INVALID', message: /is not pahole: .*printed "echo \(GNU coreutils\)/ });
  await assert.rejects(resolvePaholeTool('false', searchPath), { code: 'BTFD_ERR_TOOL_PAHOLE_INVALID', message: /--version` failed/ });
  const old = path.join(dir, 'pahole');
  writeFileSync(old, '#!/bin/sh\necho v1.15\n', { mode: 0o755 });
  await assert.rejects(resolvePaholeTool(old, searchPath), { code: 'BTFD_ERR_TOOL_PAHOLE_INVALID', message: /too old for split BTF/ });
  await assert.rejects(resolvePaholeTool(path.join(dir, 'absent'), searchPath), { code: 'BTFD_ERR_TOOL_PAHOLE_MISSING' });

  const tool = await resolvePaholeTool('pahole', searchPath);
  await checkPaholeAccepts(tool, ['--btf_gen_floats', '--lang_exclude=rust']);
  await assert.rejects(checkPaholeAccepts(tool, ['--btf_gen_floats', '--bogus']), (err: BtfdError) => {
    assert.equal(err.code, 'BTFD_ERR_TOOL_FLAGS_REJECTED');
    assert.match(err.message, /unrecognized option '--bogus'/);
    assert.ok(err.message.endsWith(`reproduce with: ${tool.path} --btf_gen_floats --bogus --version`), err.message);
    return true;
  });
});

test('pahole identity covers the binary and its encoding libraries', async (t) => {
  const tool = await resolvePaholeTool('pahole', process.env.PATH);
  assert.match(tool.identity, /^[0-9a-f]{64}$/);
  assert.equal(tool.versionNumber, 124);
  await assert.rejects(resolvePaholeTool('/nonexistent/pahole', process.env.PATH), { code: 'BTFD_ERR_TOOL_PAHOLE_MISSING' });

  // The same binary loading another libbpf (a copy with one byte more, found first through
  // LD_LIBRARY_PATH, as an upgraded library would be) is another tool.
  const libbpf = (await execFileAsync('ldd', [tool.path])).stdout.match(/libbpf\.so\.1 => (\S+)/)?.[1];
  assert.ok(libbpf, 'pahole loads libbpf');
  const libDir = tempDir(t);
  writeFileSync(path.join(libDir, 'libbpf.so.1'), Buffer.concat([readFileSync(libbpf), Buffer.from([0])]));
  const saved = process.env.LD_LIBRARY_PATH;
  process.env.LD_LIBRARY_PATH = libDir;
  t.after(() => {
    if (saved === undefined) delete process.env.LD_LIBRARY_PATH;
    else process.env.LD_LIBRARY_PATH = saved;
  });
  const relinked = await resolvePaholeTool('pahole', process.env.PATH);
  assert.equal(relinked.version, tool.version, 'still the same pahole binary and version');
  assert.notEqual(relinked.identity, tool.identity, 'another libbpf is another identity');
});

test("a 6.6+ tree's flags come from its real scripts/Makefile.btf, for each pahole, and fall back when it fails", async (t) => {
  const tree = tempDir(t);
  cpSync(KBUILD_612, tree, { recursive: true });
  const searchPath = process.env.PATH ?? '';
  const pahole124 = await resolvePaholeTool('pahole', searchPath);
  const resolved124 = await resolvePaholeFlags({ treeDir: tree, explicit: undefined, tool: pahole124, searchPath });
  assert.deepEqual(resolved124, { flags: normalizePaholeFlags('--btf_gen_floats -j'), source: 'scripts/Makefile.btf' });

  const pahole130Path = process.env.BTFD_TEST_PAHOLE_130;
  assert.ok(pahole130Path, 'npm test installs pahole 1.30 (test/tools/install-pahole-1.30.sh)');
  const pahole130 = await resolvePaholeTool(pahole130Path, searchPath);
  assert.equal(pahole130.versionNumber, 130);
  const resolved130 = await resolvePaholeFlags({ treeDir: tree, explicit: undefined, tool: pahole130, searchPath });
  assert.deepEqual(resolved130, { flags: normalizePaholeFlags(`-j ${FEATURES_612} -j`), source: 'scripts/Makefile.btf' });

  // The tree's config is read as kbuild reads it.
  mkdirSync(path.join(tree, 'include/config'), { recursive: true });
  writeFileSync(path.join(tree, 'include/config/auto.conf'), 'CONFIG_PAHOLE_HAS_LANG_EXCLUDE=y\n');
  const withRust = await resolvePaholeFlags({ treeDir: tree, explicit: undefined, tool: pahole130, searchPath });
  assert.equal(withRust.flags, normalizePaholeFlags(`-j ${FEATURES_612} --lang_exclude=rust`));

  // A Makefile.btf make cannot evaluate: a coded error quoting make, at once, not guessed flags.
  writeFileSync(path.join(tree, 'scripts/Makefile.btf'), '$(error this tree is broken)\n');
  const started = performance.now();
  await assert.rejects(resolvePaholeFlags({ treeDir: tree, explicit: undefined, tool: pahole130, searchPath }), (err: BtfdError) => {
    assert.equal(err.code, 'BTFD_ERR_TREE_FLAGS_FAILED');
    assert.match(err.message, /Makefile\.btf failed: .*this tree is broken/s);
    return true;
  });
  assert.ok(performance.now() - started < 5000, 'no hang');
});
