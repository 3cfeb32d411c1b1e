/**
 * The CLI's small promises, each seen failing once (issue 10, point 7): usage errors have a code
 * and exit 2, a command's option values may start with a dash, `--json` prints JSON even when the
 * build cannot run, an empty dir is an error, one module can be built, `cache verify` exits 1
 * when it removed anything, `explain` shows the previous flags whole, `btfd logs | head -1` ends
 * quietly, and a watched tree's registered settings, re-registration and deletion are not silent.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitForExit } from '../../client/connect.js';
import { DAEMON_VERSION } from '../../shared/version.js';
import { createFixtureKernel } from '../fixtures/fixture-kernel.js';
import { CLI, runCli } from '../helpers/cli-harness.js';
import { tempDir } from '../helpers/engine-harness.js';

test('usage errors have a code and exit 2; help and version exit 0', async (t) => {
  const env = { BTFD_HOME: path.join(tempDir(t), 'h') };
  for (const args of [['--bogus'], ['build', '--bogus'], ['frobnicate'], ['cache', 'gc', '--max-size', 'lots'], ['watch']]) {
    const r = await runCli(args, env);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^btfd: BTFD_ERR_USAGE: .+\n  next: Check the command line: `btfd --help`/, args.join(' '));
  }
  const help = await runCli(['--help'], env);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: btfd/);
  const version = await runCli(['-V'], env);
  assert.deepEqual([version.code, version.stdout], [0, `${DAEMON_VERSION}\n`]);
});

test('build: option values may start with a dash, --json always prints JSON, an empty dir is an error, one module builds', async (t) => {
  const dir = tempDir(t);
  const env = { BTFD_HOME: path.join(dir, 'h') };
  const kernel = await createFixtureKernel(path.join(dir, 'k'));

  // -V is pahole's (verbose), not btfd's --version: it reaches the flags guard, which passes only
  // encoding flags; a dash-led encoding flag passes, and --pahole after the command name is taken.
  const verbose = await runCli(['build', kernel.dir, '--pahole-flags', '-V', '--pahole', 'pahole', '--no-daemon', '--json'], env);
  assert.equal(verbose.code, 2, verbose.stderr);
  assert.equal(JSON.parse(verbose.stdout).error.code, 'BTFD_ERR_TOOL_FLAGS_INVALID');
  const floats = await runCli(['build', kernel.dir, '--pahole-flags', '--btf_gen_floats', '--pahole', 'pahole', '--no-daemon', '--json'], env);
  assert.equal(floats.code, 0, floats.stderr);
  assert.equal(JSON.parse(floats.stdout).flags, '--btf_gen_floats');

  const noBase = await runCli(['build', kernel.dir, '--base', path.join(dir, 'nope'), '--no-daemon', '--json'], env);
  assert.equal(noBase.code, 2);
  const error = JSON.parse(noBase.stdout);
  assert.equal(error.error.code, 'BTFD_ERR_BASE_MISSING');
  assert.match(error.error.next, /--base/);

  const empty = path.join(dir, 'empty');
  await mkdir(empty);
  const none = await runCli(['build', empty, '--base', kernel.vmlinux, '--no-daemon'], env);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /BTFD_ERR_TREE_NO_MODULES: no \.ko file under/);

  const one = await runCli(['build', path.relative(process.cwd(), kernel.modules[1]!), '--no-daemon', '--json'], env);
  assert.equal(one.code, 0, one.stderr);
  const report = JSON.parse(one.stdout);
  assert.equal(report.dir, kernel.dir, 'the tree of a lone module is the dir with its vmlinux');
  assert.deepEqual(report.results.map((r: { path: string }) => r.path), [kernel.modules[1]]);
});

test('cache verify exits 1 after removing orphans; explain shows the previous flags whole', async (t) => {
  const dir = tempDir(t);
  const home = path.join(dir, 'h');
  const env = { BTFD_HOME: home };
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const long = '--btf_gen_floats --lang_exclude=rust';
  assert.equal((await runCli(['build', kernel.dir, '--pahole-flags', long, '--no-daemon'], env)).code, 0);

  const explain = await runCli(['explain', kernel.modules[0]!, '--pahole-flags', '--btf_gen_floats', '--no-daemon'], env);
  assert.equal(explain.code, 0, explain.stderr);
  assert.match(explain.stdout, new RegExp(`flags +[0-9a-f]{16}  --btf_gen_floats  \\(changed; was "${long}"\\)`));
  assert.match(explain.stdout, /tool +[0-9a-f]{16}  pahole v1\.\d+ at \//);

  const orphan = path.join(home, 'cache', 'cas', 'ab', `ab${'0'.repeat(62)}`);
  await mkdir(path.dirname(orphan), { recursive: true });
  await writeFile(orphan, 'nobody names me');
  const verify = await runCli(['cache', 'verify', '--no-daemon'], env);
  assert.equal(verify.code, 1, verify.stdout);
  assert.match(verify.stdout, /1 orphans removed/);
  assert.equal((await runCli(['cache', 'verify', '--no-daemon'], env)).code, 0, 'nothing left to remove');
});

test('btfd logs | head -1 ends quietly', (t) => {
  const home = path.join(tempDir(t), 'h');
  fs.mkdirSync(path.join(home, 'state'), { recursive: true, mode: 0o700 });
  // More than a pipe holds, so btfd is still writing when head has gone.
  const line = JSON.stringify({ level: 30, time: 0, pid: 1, component: 'daemon', msg: 'x'.repeat(200) });
  fs.writeFileSync(path.join(home, 'state', 'btfd.log'), `${line}\n`.repeat(5000));
  const r = spawnSync('bash', ['-c', `set -o pipefail; "${process.execPath}" "${CLI}" logs -n 5000 | head -1 >/dev/null`], { env: { ...process.env, BTFD_HOME: home }, encoding: 'utf8' });
  assert.equal(r.stderr, '', 'no stack trace');
  assert.equal(r.status, 0);
});

test('a watched tree: builds default to its registered base, re-watching says what changed, deletion shows', async (t) => {
  const dir = fs.mkdtempSync('/tmp/btfd-w-');
  const env: Record<string, string> = { BTFD_HOME: path.join(dir, 'h') };
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const base = path.join(dir, 'vmlinux-elsewhere');
  await copyFile(kernel.vmlinux, base);
  t.after(async () => {
    const status = await runCli(['status', '--json'], env);
    await runCli(['stop'], env);
    if (status.code === 0) await waitForExit(JSON.parse(status.stdout).pid, 10_000);
    await rm(dir, { recursive: true, force: true });
  });
  assert.equal((await runCli(['watch', kernel.dir, '--base', base], env)).code, 0);
  const build = await runCli(['build', kernel.dir, '--json'], env);
  assert.equal(build.code, 0, build.stderr);
  assert.equal(JSON.parse(build.stdout).base, base, "POST /v1/build takes the watched tree's registered base");

  const again = await runCli(['watch', kernel.dir, '--base', base, '--pahole-flags', '--btf_gen_floats'], env);
  assert.equal(again.code, 0);
  assert.match(again.stderr, /btfd: .* was already watched; flags the default → "--btf_gen_floats": its modules are rebuilt/);
  const same = await runCli(['watch', kernel.dir, '--base', base, '--pahole-flags', '--btf_gen_floats'], env);
  assert.equal(same.stderr, '', 'the same settings again: nothing to say');

  await rm(kernel.dir, { recursive: true, force: true });
  let text = '';
  for (let i = 0; i < 200 && !text.includes('(missing)'); i++) {
    await sleep(50);
    text = (await runCli(['status'], env)).stdout;
  }
  assert.match(text, new RegExp(`tree +${kernel.dir} \\(missing\\)`));
  assert.match(text, /error BTFD_ERR_TREE_NOT_FOUND: .* no longer exists: `btfd unwatch/);
  assert.equal(JSON.parse((await runCli(['status', '--json'], env)).stdout).trees[0].missing, true);
});
