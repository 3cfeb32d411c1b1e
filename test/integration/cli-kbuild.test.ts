/**
 * `btfd kbuild`: the tree checks and the make line, on a fixture tree dressed as a kernel build dir.
 */
import assert from 'node:assert/strict';
import { access, constants, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { createFixtureKernel } from '../fixtures/fixture-kernel.js';
import { cliHome, runCli } from '../helpers/cli-harness.js';
import { tempDir } from '../helpers/engine-harness.js';

test('btfd kbuild checks the tree and prints the make line with the shim', async (t) => {
  const dir = tempDir(t);
  const { env } = cliHome(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  await writeFile(path.join(kernel.dir, 'Makefile'), '# kernel Makefile stand-in\n');
  await writeFile(path.join(kernel.dir, '.config'), 'CONFIG_DEBUG_INFO_BTF=y\nCONFIG_DEBUG_INFO_BTF_MODULES=y\n');

  const ok = await runCli(['kbuild', kernel.dir], env);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /^ok {3}CONFIG_DEBUG_INFO_BTF_MODULES=y$/m);
  assert.match(ok.stdout, /^ok {3}vmlinux has \.BTF/m);
  assert.match(ok.stdout, /^ok {3}pahole v1\.\d+ at /m);
  const shim = /PAHOLE=(\S+)/.exec(ok.stdout)?.[1];
  assert.ok(shim, 'the make line names the shim');
  await access(shim, constants.X_OK);
  assert.match(ok.stdout, new RegExp(`BTFD_STABLE_BASE=1 make -C ${kernel.dir} PAHOLE=`), "pahole 1.24: the stable-base hint");

  await writeFile(path.join(kernel.dir, '.config'), 'CONFIG_DEBUG_INFO_BTF=y\n# CONFIG_DEBUG_INFO_BTF_MODULES is not set\n');
  const missing = await runCli(['kbuild', kernel.dir], env);
  assert.equal(missing.code, 1);
  assert.match(missing.stdout, /^FAIL CONFIG_DEBUG_INFO_BTF_MODULES is not set/m);

  // A dir that exists but is no kernel build dir is told so, not "not found".
  const notKernel = await runCli(['kbuild', dir], env);
  assert.equal(notKernel.code, 2);
  assert.match(notKernel.stderr, /BTFD_ERR_TREE_NOT_KBUILD: .* has no Makefile/);
  const absent = await runCli(['kbuild', path.join(dir, 'absent')], env);
  assert.equal(absent.code, 2);
  assert.match(absent.stderr, /BTFD_ERR_TREE_NOT_FOUND/);
});
