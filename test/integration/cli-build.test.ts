/**
 * The CLI's in-process path (`--no-daemon`) as a user runs it: exit codes, `--json`, explain and
 * cache maintenance.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { createFixtureKernel } from '../fixtures/fixture-kernel.js';
import { cliHome, runCli } from '../helpers/cli-harness.js';
import { tempDir } from '../helpers/engine-harness.js';

test('btfd build --no-daemon --json, explain, and cache stats|verify|gc|clear', async (t) => {
  const dir = tempDir(t);
  const { env } = cliHome(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const n = kernel.modules.length;

  const cold = await runCli(['build', kernel.dir, '--no-daemon', '--json'], env);
  assert.equal(cold.code, 0, cold.stderr);
  const report = JSON.parse(cold.stdout);
  for (const field of ['modules', 'fresh', 'restored', 'regenerated', 'failed', 'seconds', 'failures']) assert.ok(field in report, field);
  assert.deepEqual([report.modules, report.regenerated, report.failed], [n, n, 0]);

  const text = await runCli(['build', kernel.dir, '--no-daemon'], env);
  assert.equal(text.code, 0);
  assert.match(text.stdout, new RegExp(`^${n} modules in [0-9.]+s: ${n} fresh, 0 restored, 0 relocated, 0 regenerated, 0 failed`));

  const explain = await runCli(['explain', kernel.modules[0]!, '--json', '--no-daemon'], env);
  assert.equal(explain.code, 0, explain.stderr);
  const explanation = JSON.parse(explain.stdout);
  assert.equal(explanation.verdict, 'fresh');
  assert.deepEqual(explanation.inputs.map((i: { name: string }) => i.name), ['schema', 'recipe', 'tool', 'flags', 'base', 'module']);

  const stats = JSON.parse((await runCli(['cache', 'stats', '--json', '--no-daemon'], env)).stdout);
  assert.equal(stats.entries, n);
  const verify = await runCli(['cache', 'verify', '--no-daemon'], env);
  assert.equal(verify.code, 0);
  assert.match(verify.stdout, new RegExp(`checked ${n} blobs: 0 corrupt`));

  // A size limit of one byte evicts everything; the next build regenerates nothing it can restore.
  const gc = await runCli(['cache', 'gc', '--max-size', '1', '--no-daemon'], env);
  assert.equal(gc.code, 0, gc.stderr);
  assert.match(gc.stdout, new RegExp(`removed ${n} entries`));
  assert.equal(JSON.parse((await runCli(['cache', 'stats', '--json', '--no-daemon'], env)).stdout).entries, 0);
  const clear = await runCli(['cache', 'clear', '--no-daemon'], env);
  assert.equal(clear.code, 0);
  const bad = await runCli(['cache', 'gc', '--max-size', 'lots', '--no-daemon'], env);
  assert.notEqual(bad.code, 0);
});

test('btfd build exits 1 when a module fails and 2 when it cannot run, with codes and next steps', async (t) => {
  const dir = tempDir(t);
  const { env } = cliHome(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const broken = path.join(kernel.dir, 'broken.ko');
  await writeFile(broken, (await readFile(kernel.modules[0]!)).subarray(0, 100));

  const result = await runCli(['build', kernel.dir, '--no-daemon', '--json'], env);
  assert.equal(result.code, 1);
  const report = JSON.parse(result.stdout);
  assert.equal(report.failed, 1);
  assert.equal(report.failures[0].error.code, 'BTFD_ERR_ELF_TRUNCATED');

  const text = await runCli(['build', kernel.dir, '--no-daemon'], env);
  assert.equal(text.code, 1);
  assert.match(text.stdout, /broken\.ko: BTFD_ERR_ELF_TRUNCATED/);
  assert.match(text.stdout, /next: /);

  const noBase = await runCli(['build', kernel.dir, '--no-daemon', '--base', path.join(dir, 'missing')], env);
  assert.equal(noBase.code, 2);
  assert.match(noBase.stderr, /BTFD_ERR_BASE_MISSING/);
  assert.match(noBase.stderr, /next: /);
});

test('flags pahole refuses are one error before any module runs: exit 2, the command to reproduce', async (t) => {
  const dir = tempDir(t);
  const env = { BTFD_HOME: path.join(dir, 'home') };
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const before = await Promise.all(kernel.modules.map((m) => readFile(m)));

  const bad = await runCli(['build', kernel.dir, '--no-daemon', '--pahole-flags', '--btf_gen_floats --bogus'], env);
  assert.equal(bad.code, 2, bad.stderr);
  assert.equal(bad.stdout, '');
  // The flags as pahole gets them (normalised: sorted), pahole's own words, and the command.
  assert.match(bad.stderr, /^btfd: BTFD_ERR_TOOL_FLAGS_REJECTED: pahole v[\d.]+ refused the flags "--bogus --btf_gen_floats": .*unrecognized option '--bogus'/);
  assert.match(bad.stderr, /reproduce with: \/\S*pahole --bogus --btf_gen_floats --version\n/);
  assert.equal(bad.stderr.match(/BTFD_ERR_/g)?.length, 1, 'one error, not one per module');
  assert.deepEqual(await Promise.all(kernel.modules.map((m) => readFile(m))), before, 'no module was touched');
  const stats = JSON.parse((await runCli(['cache', 'stats', '--json', '--no-daemon'], env)).stdout);
  assert.equal(stats.misses, 0, 'pahole never ran on a module');
});
