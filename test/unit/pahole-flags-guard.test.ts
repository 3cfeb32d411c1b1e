/**
 * The flags guard reads words as pahole's getopt_long does: an abbreviation of btfd's own options
 * is refused like the full name, and so is any option that is not an encoding flag (short ones
 * above all: `-C` takes the next word, btfd's `--btf_base`, as a class name).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { normalizePaholeFlags } from '../../daemon/engine/pahole-flags.js';
import { createFixtureKernel } from '../fixtures/fixture-kernel.js';
import { tempDir, testEngine } from '../helpers/engine-harness.js';

test('abbreviations of btfd\'s options, options taking the next word, and non-encoding options are refused', () => {
  const refused = [
    '-C', '-C task_struct', '-Cfoo', '-E', '-q', '-Jj', '-J',
    '--btf_bas=/tmp/x', '--btf_base=x', '--btf_b x', '--btf_encode_det=/home/u/.bashrc', '--btf_encode_detached=x', '--btf_encode',
    '--btf_enc', '--class_name=x', '--class', '--cla=x', '--prettify=/etc/passwd', '--btf_feat=var', '--lang_exclude', '--lang_exclude --btf_base',
    '--', 'x.ko',
  ];
  for (const flags of refused) assert.throws(() => normalizePaholeFlags(flags), { code: 'BTFD_ERR_TOOL_FLAGS_INVALID' }, flags);
});

test('abbreviated encoding flags are spelled out, so they key like the full names; unknown options are left to pahole', () => {
  assert.equal(normalizePaholeFlags('--btf_gen_fl --lang_ex=rust --btf_features_s=var'), normalizePaholeFlags('--btf_gen_floats --lang_exclude=rust --btf_features_strict=var'));
  assert.equal(normalizePaholeFlags('--btf_gen_fl'), '--btf_gen_floats');
  assert.equal(normalizePaholeFlags('--lang rust'), '--lang=rust');
  assert.equal(normalizePaholeFlags('-j8 --jobs=3'), '-j');
  // pahole refuses what it does not know (BTFD_ERR_TOOL_FLAGS_REJECTED, when the build probes it).
  assert.equal(normalizePaholeFlags('--bogus'), '--bogus');
});

test('a build with --pahole-flags "-C" is refused before pahole runs, and the modules are left alone', async (t) => {
  const dir = tempDir(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const { engine, store } = testEngine(t);
  for (const paholeFlags of ['-C', '--btf_bas=/dev/null', '--btf_encode_det=/tmp/out']) {
    await assert.rejects(engine.build({ dir: kernel.dir, paholeFlags }), { code: 'BTFD_ERR_TOOL_FLAGS_INVALID' }, paholeFlags);
  }
  assert.equal(store.artifacts.totals().entries, 0);
});
