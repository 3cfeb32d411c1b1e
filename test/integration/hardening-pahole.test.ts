/**
 * pahole is bounded: a pahole that hangs is killed with its whole process group after the
 * configured wall time, and `btfd stop` does not wait for it; a pahole that exits 0 with garbage
 * gets nothing cached or installed. The misbehaving paholes are sh scripts that answer
 * `--version` as pahole does.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { resolveConfig } from '../../shared/config.js';
import { createFixtureKernel } from '../fixtures/fixture-kernel.js';
import { cliHome, runCli } from '../helpers/cli-harness.js';
import { tempDir, testEngine } from '../helpers/engine-harness.js';

/** The probe of the flags puts --version last, the identity probe first: answer it anywhere. */
const ANSWER_VERSION = 'case " $* " in *" --version "*) echo v1.24; exit 0;; esac\n';

/** A pahole that starts a grandchild (as pahole starts objcopy) and waits for it forever. */
async function hangingPahole(dir: string): Promise<{ path: string; pidFile: string }> {
  const file = path.join(dir, 'pahole-hangs');
  const pidFile = path.join(dir, 'grandchild.pid');
  await writeFile(file, `#!/bin/sh\n${ANSWER_VERSION}sleep 600 &\necho $! > ${pidFile}\nwait\n`, { mode: 0o755 });
  return { path: file, pidFile };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(what: string, ms: number, ready: () => boolean): Promise<void> {
  const until = Date.now() + ms;
  while (!ready()) {
    if (Date.now() > until) throw new Error(`${what} within ${ms} ms`);
    await sleep(50);
  }
}

test('a hung pahole is killed with its process group after the timeout; the module fails with a code, untouched', async (t) => {
  const dir = tempDir(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const pahole = await hangingPahole(dir);
  const module = kernel.modules[0]!;
  const before = await readFile(module);
  const { engine, store } = testEngine(t, { pahole: pahole.path, paholeTimeoutMs: 1500 });
  const started = performance.now();
  const report = await engine.build({ dir: kernel.dir, modules: [module], paholeFlags: '' });
  const ms = Math.round(performance.now() - started);
  assert.equal(report.failures[0]?.error?.code, 'BTFD_ERR_TOOL_PAHOLE_TIMEOUT', JSON.stringify(report.failures));
  assert.match(report.failures[0]!.reason, /longer than 1500 ms.*reproduce with: /);
  assert.ok(ms < 15_000, `the build took ${ms} ms`);
  const grandchild = Number(await readFile(pahole.pidFile, 'utf8'));
  await waitFor('the grandchild was not killed', 5000, () => !alive(grandchild));
  assert.deepEqual(await readFile(module), before);
  assert.equal(store.artifacts.totals().entries, 0);
  t.diagnostic(`hung pahole, timeout 1500 ms: the build answered in ${ms} ms`);
});

test('pahole that exits 0 with garbage: BTFD_ERR_TOOL_PAHOLE_OUTPUT_INVALID, nothing cached or installed', async (t) => {
  const dir = tempDir(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const garbage = path.join(dir, 'pahole-garbage');
  // Writes to wherever --btf_encode_detached points, as pahole would, but not BTF.
  await writeFile(garbage, `#!/bin/sh\n${ANSWER_VERSION}for a do case "$a" in --btf_encode_detached=*) printf 'this is not BTF at all, not even close' > "\${a#--btf_encode_detached=}";; esac; done\nexit 0\n`, { mode: 0o755 });
  // Valid magic and version, but a header that lies about its sections.
  const lying = path.join(dir, 'pahole-lying');
  await writeFile(lying, `#!/bin/sh\n${ANSWER_VERSION}for a do case "$a" in --btf_encode_detached=*) printf '\\237\\353\\001\\000\\030\\000\\000\\000\\000\\000\\000\\000\\377\\377\\000\\000\\000\\000\\000\\000\\001\\000\\000\\000' > "\${a#--btf_encode_detached=}";; esac; done\nexit 0\n`, { mode: 0o755 });
  for (const pahole of [garbage, lying]) {
    const module = kernel.modules[0]!;
    const before = await readFile(module);
    const { engine, store } = testEngine(t, { pahole });
    const report = await engine.build({ dir: kernel.dir, modules: [module], paholeFlags: '' });
    assert.equal(report.failures[0]?.error?.code, 'BTFD_ERR_TOOL_PAHOLE_OUTPUT_INVALID', `${pahole}: ${JSON.stringify(report.failures)}`);
    assert.deepEqual(await readFile(module), before);
    assert.equal(store.artifacts.totals().entries, 0);
  }
});

test('btfd stop does not wait for a hung pahole: it is killed, the build answers, the daemon exits', async (t) => {
  const dir = tempDir(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const pahole = await hangingPahole(dir);
  const { env: homeEnv } = cliHome(t);
  // The default timeout (10 minutes) stays: stop must not depend on it.
  const env = { ...homeEnv, BTFD_PAHOLE: pahole.path };
  const { socketPath } = resolveConfig({ env });
  assert.equal((await runCli(['start'], env, 30_000)).code, 0);
  const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = http.request({ socketPath, path: '/v1/build', method: 'POST', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk)).on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ dir: kernel.dir, modules: [kernel.modules[0]], paholeFlags: '' }));
  });
  await waitFor('pahole did not start', 30_000, () => existsSync(pahole.pidFile));
  const grandchild = Number(await readFile(pahole.pidFile, 'utf8'));
  const started = performance.now();
  const stop = await runCli(['stop'], env, 30_000);
  const stopMs = Math.round(performance.now() - started);
  assert.equal(stop.code, 0, stop.stderr);
  const build = await answer;
  assert.match(build.text, /BTFD_ERR_DAEMON_SHUTTING_DOWN/);
  await waitFor('the grandchild was not killed', 5000, () => !alive(grandchild));
  t.diagnostic(`hung pahole: btfd stop took ${stopMs} ms`);
});
