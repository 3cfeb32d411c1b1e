/**
 * Status and `btfd modules` tell the truth, through the real daemon and CLI on the fixture
 * kernel: a watched tree's all-fresh passes do not hide the build that did something, each module
 * keeps its last change and reason, a failed module is listed with its code and next step until a
 * build succeeds on it, a deleted module is no longer listed, fresh modules count as cache hits,
 * `cache stats --zero` zeroes the counters, and status says which pahole runs.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitForExit } from '../../client/connect.js';
import { realpathSync } from 'node:fs';
import { createFixtureKernel } from '../fixtures/fixture-kernel.js';
import { runCli } from '../helpers/cli-harness.js';

interface Status {
  pid: number;
  modules: Record<string, number>;
  cache: { hits: number; misses: number; hitRate: number | null };
  pahole: { path: string | null; version: string | null };
  trees: Array<{ building: boolean; lastBuild: Record<string, any> | null; lastPass: Record<string, any> | null }>;
}

interface Module {
  path: string;
  outcome: string;
  reason: string;
  error?: { code: string; next: string };
}

test('status and modules keep the last change, list failures until fixed, count fresh as hits', async (t) => {
  const dir = await mkdtemp('/tmp/btfd-s-');
  const env: Record<string, string> = { BTFD_HOME: path.join(dir, 'h') };
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const pristine = await createFixtureKernel(path.join(dir, 'p'));
  const n = kernel.modules.length;
  let pid = 0;
  t.after(async () => {
    await runCli(['stop'], env);
    await waitForExit(pid, 10_000);
    await rm(dir, { recursive: true, force: true });
  });
  const status = async (): Promise<Status> => JSON.parse((await runCli(['status', '--json'], env)).stdout) as Status;
  const modules = async (): Promise<Module[]> => JSON.parse((await runCli(['modules', kernel.dir, '--json'], env)).stdout).modules as Module[];
  const byName = (list: Module[]) => new Map(list.map((m) => [path.relative(kernel.dir, m.path), m]));
  /** Poll status until `check` holds and the tree is not building. */
  const settled = async (what: string, check: (s: Status) => boolean): Promise<Status> => {
    for (let i = 0; i < 400; i++) {
      const s = await status();
      if (s.trees[0] && !s.trees[0].building && check(s)) return s;
      await sleep(50);
    }
    assert.fail(`timed out waiting for ${what}`);
  };

  assert.equal((await runCli(['watch', kernel.dir], env)).code, 0);
  // The reconcile regenerates every module; the pass after the watcher's scan finds them fresh.
  let s = await settled('the all-fresh pass', (x) => x.trees[0]!.lastPass?.['trigger'] === 'watcher ready');
  pid = s.pid;
  assert.equal(s.trees[0]!.lastPass!['fresh'], n);
  assert.equal(s.trees[0]!.lastBuild!['regenerated'], n, 'the all-fresh pass did not replace the last build');
  assert.equal(s.trees[0]!.lastBuild!['trigger'], 'watch started');
  assert.deepEqual(s.modules, { regenerated: n });
  for (const m of await modules()) assert.deepEqual([m.outcome, m.reason], ['regenerated', 'not cached (first build)'], m.path);
  // Which pahole: the daemon's default, and the one each tree's builds ran.
  const pahole = realpathSync(process.env['BTFD_PAHOLE'] ?? '/usr/bin/pahole');
  assert.equal(s.pahole.path, pahole);
  assert.equal(s.trees[0]!.lastBuild!['pahole'].path, pahole);
  const text = (await runCli(['status'], env)).stdout;
  assert.match(text, new RegExp(`pahole +v1\\.\\d+ at ${pahole}`));
  assert.match(text, /last build \d+s ago \(watch started\): \d+ modules, 0 fresh, 0 restored, 0 relocated, \d+ regenerated, 0 failed/);

  // A relinked module is restored; the others keep their last change.
  await copyFile(pristine.modules[0]!, kernel.modules[0]!);
  s = await settled('the restore', (x) => x.trees[0]!.lastBuild?.['trigger'] === 'modules changed');
  const afterRestore = byName(await modules());
  assert.equal(afterRestore.get(path.relative(kernel.dir, kernel.modules[0]!))?.outcome, 'restored');
  assert.equal([...afterRestore.values()].filter((m) => m.outcome === 'regenerated').length, n - 1);

  // A broken module is listed as failed, with its code and next step, across later builds...
  const broken = path.join(path.dirname(kernel.modules[1]!), 'broken.ko');
  await writeFile(broken, (await readFile(kernel.modules[1]!)).subarray(0, 100));
  await settled('the failure', (x) => x.trees[0]!.lastBuild?.['failed'] === 1);
  const build = await runCli(['build', kernel.dir], env);
  assert.equal(build.code, 1);
  const failed = byName(await modules()).get(path.relative(kernel.dir, broken));
  assert.equal(failed?.outcome, 'failed');
  assert.equal(failed?.error?.code, 'BTFD_ERR_ELF_TRUNCATED');
  assert.match(failed?.error?.next ?? '', /rebuild it/);
  assert.match((await runCli(['modules', kernel.dir], env)).stdout, /^failed +\S*broken\.ko +BTFD_ERR_ELF_TRUNCATED: .*\n +next: The file is shorter/m);
  // ...and the build's fresh modules were cache hits.
  const stats = JSON.parse((await runCli(['cache', 'stats', '--json'], env)).stdout);
  assert.ok(stats.hits >= n, `fresh modules are hits (${stats.hits})`);
  assert.equal(stats.hitRate, stats.hits / (stats.hits + stats.misses));

  // ...until it is fixed.
  await copyFile(kernel.modules[1]!, broken);
  await settled('the fix', (x) => (x.modules['failed'] ?? 0) === 0);
  assert.notEqual(byName(await modules()).get(path.relative(kernel.dir, broken))?.outcome, 'failed');

  // A deleted module is no longer listed.
  await rm(broken);
  assert.equal(byName(await modules()).has(path.relative(kernel.dir, broken)), false);

  // cache stats --zero: the counters as they were, then zero.
  const zero = await runCli(['cache', 'stats', '--zero'], env);
  assert.equal(zero.code, 0);
  assert.match(zero.stdout, /^lookups +\d+% hit rate \(\d+ hits, \d+ misses\)/m);
  assert.match(zero.stdout, /statistics zeroed\n$/);
  const zeroed = JSON.parse((await runCli(['cache', 'stats', '--json'], env)).stdout);
  assert.deepEqual([zeroed.hits, zeroed.misses, zeroed.hitRate, zeroed.savedMs], [0, 0, null, 0]);
  assert.ok(zeroed.entries >= n, 'zeroing the counters keeps the cache');
});
