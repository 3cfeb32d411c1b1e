import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { flagsForPaholeVersion, normalizePaholeFlags, resolvePaholeFlags } from '../../daemon/engine/pahole-flags.js';
import { parsePaholeVersion, resolvePaholeTool } from '../../daemon/engine/pahole-tool.js';
import { tempDir } from '../helpers/engine-harness.js';

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
});

test('pahole identity covers the binary and its encoding libraries', async () => {
  const tool = await resolvePaholeTool('pahole', process.env.PATH);
  assert.match(tool.identity, /^[0-9a-f]{64}$/);
  assert.equal(tool.versionNumber, 124);
  await assert.rejects(resolvePaholeTool('/nonexistent/pahole', process.env.PATH), { code: 'BTFD_ERR_TOOL_PAHOLE_MISSING' });
});
