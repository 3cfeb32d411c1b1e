/**
 * Every failure names the right cause and the right module: a module deleted mid-build, a
 * module rewritten under pahole, twins (same key) sharing a failed regeneration, files that are
 * not kernel modules; and a key is regenerated once per build however many modules share it.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { createFixtureKernel } from '../fixtures/fixture-kernel.js';
import { tempDir, testEngine } from '../helpers/engine-harness.js';

const ANSWER_VERSION = 'case " $* " in *" --version "*) echo v1.24; exit 0;; esac\n';
const REAL_PAHOLE = process.env.BTFD_PAHOLE ?? '/usr/bin/pahole';

/** The real pahole behind a wrapper that logs each encoding run (not the --version probes). */
async function countingPahole(dir: string): Promise<{ path: string; runs: () => Promise<number> }> {
  const file = path.join(dir, 'pahole-counting');
  const log = path.join(dir, 'pahole-runs.log');
  await writeFile(log, '');
  await writeFile(file, `#!/bin/sh\ncase " $* " in *" --version "*) ;; *) echo run >> ${log};; esac\nexec ${REAL_PAHOLE} "$@"\n`, { mode: 0o755 });
  return { path: file, runs: async () => (await readFile(log, 'utf8')).split('\n').filter(Boolean).length };
}

test('a module deleted before pahole reads it: BTFD_ERR_MODULE_DELETED, forgotten, not INTERNAL', async (t) => {
  const dir = tempDir(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const victim = kernel.modules[0]!;
  const { engine } = testEngine(t, {}, { beforeRegenerate: async (module) => { if (module === victim) await unlink(victim); } });
  const report = await engine.build({ dir: kernel.dir, paholeFlags: '' });
  assert.deepEqual(report.failures.map((f) => [f.path, f.error?.code]), [[victim, 'BTFD_ERR_MODULE_DELETED']]);
  assert.equal(report.regenerated, kernel.modules.length - 1);
  assert.ok(!(await engine.listModules(kernel.dir)).some((m) => m.path === victim));
});

test('pahole killed by SIGBUS because the module was rewritten under it: MODULE_CHANGED, not "check memory"', async (t) => {
  const dir = tempDir(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const module = kernel.modules[0]!;
  // As when the linker rewrites the module pahole has mapped: the file changes, pahole dies.
  const rewriting = path.join(dir, 'pahole-rewritten');
  await writeFile(rewriting, `#!/bin/sh\n${ANSWER_VERSION}for last; do :; done\nprintf x >> "$last"\nkill -BUS $$\n`, { mode: 0o755 });
  const { engine } = testEngine(t, { pahole: rewriting });
  const report = await engine.build({ dir: kernel.dir, modules: [module], paholeFlags: '' });
  assert.equal(report.failures[0]?.error?.code, 'BTFD_ERR_MODULE_CHANGED', JSON.stringify(report.failures));
  // A crash with the module untouched is still a crash.
  const crashing = path.join(dir, 'pahole-crashes');
  await writeFile(crashing, `#!/bin/sh\n${ANSWER_VERSION}kill -BUS $$\n`, { mode: 0o755 });
  const crashed = await testEngine(t, { pahole: crashing }).engine.build({ dir: kernel.dir, modules: [module], paholeFlags: '' });
  assert.equal(crashed.failures[0]?.error?.code, 'BTFD_ERR_TOOL_PAHOLE_CRASHED');
});

test('twins sharing a failed regeneration: each failure names its own module, and the twin pahole ran on', async (t) => {
  const dir = tempDir(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const twin = path.join(kernel.dir, 'twin', path.basename(kernel.modules[0]!));
  await mkdir(path.dirname(twin));
  await copyFile(kernel.modules[0]!, twin);
  const failing = path.join(dir, 'pahole-fails');
  await writeFile(failing, `#!/bin/sh\n${ANSWER_VERSION}sleep 1\necho "pahole: simulated failure" >&2\nexit 3\n`, { mode: 0o755 });
  const { engine } = testEngine(t, { pahole: failing });
  const report = await engine.build({ dir: kernel.dir, modules: [kernel.modules[0]!, twin], paholeFlags: '' });
  assert.equal(report.failures.length, 2);
  for (const failure of report.failures) {
    assert.equal(failure.error?.code, 'BTFD_ERR_TOOL_PAHOLE_FAILED');
    assert.ok(failure.reason.startsWith(failure.path) || failure.reason.includes(`on ${failure.path}:`), `${failure.path}: ${failure.reason}`);
  }
  assert.ok(report.failures.some((f) => /its twin .* \(same content, same key\)/.test(f.reason)), JSON.stringify(report.failures));
});

test('files that are not kernel modules are refused before pahole runs: ET_DYN, a foreign e_machine', async (t) => {
  const dir = tempDir(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const pahole = await countingPahole(dir);
  const shared = path.join(kernel.dir, 'libc-like.ko');
  await copyFile('/bin/true', shared);
  const arm32 = path.join(kernel.dir, 'arm32.ko');
  const bytes = await readFile(kernel.modules[0]!);
  bytes.writeUInt16LE(40, 18);
  await writeFile(arm32, bytes);
  const { engine } = testEngine(t, { pahole: pahole.path });
  const report = await engine.build({ dir: kernel.dir, modules: [shared, arm32], paholeFlags: '' });
  assert.deepEqual(report.failures.map((f) => f.error?.code), ['BTFD_ERR_ELF_UNSUPPORTED', 'BTFD_ERR_ELF_UNSUPPORTED'], JSON.stringify(report.failures));
  assert.match(report.failures[0]!.reason, /not a relocatable object/);
  assert.match(report.failures[1]!.reason, /e_machine 40/);
  assert.equal(await pahole.runs(), 0);
});

test('100 modules with one key cost one pahole run in a build', async (t) => {
  const dir = tempDir(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const copies: string[] = [];
  for (let i = 0; i < 100; i++) {
    const copy = path.join(kernel.dir, 'copies', String(i), path.basename(kernel.modules[0]!));
    await mkdir(path.dirname(copy), { recursive: true });
    await copyFile(kernel.modules[0]!, copy);
    copies.push(copy);
  }
  const pahole = await countingPahole(dir);
  const { engine, store } = testEngine(t, { pahole: pahole.path });
  const report = await engine.build({ dir: kernel.dir, modules: copies, paholeFlags: '' });
  assert.deepEqual(report.failures, []);
  assert.equal(await pahole.runs(), 1);
  assert.equal(report.regenerated + report.restored, 100);
  assert.equal(store.counters.read().misses, 1);
  t.diagnostic(`100 twins: ${report.regenerated} regenerated, ${report.restored} restored, ${await pahole.runs()} pahole run(s), ${report.seconds} s`);
});
