/**
 * What `btfd status --json` loads: a loader hook records every module the command imports, and
 * none of the heavy ones (TypeBox, fastify, pino, the progress bar, commander, anything of the
 * daemon, node:child_process, node:crypto) may be among them. Deterministic where a timing test on
 * these shared machines would not be; the timing itself is in BENCHMARKS.md (the `status` scenario of `npm run bench`).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { waitForExit } from '../../client/connect.js';
import { CLI, runCli } from '../helpers/cli-harness.js';

/** Loaded by name or path, these would each cost the command tens of milliseconds. */
const HEAVY = /\/node_modules\/(@sinclair\/typebox|fastify|pino|pino-pretty|cli-progress|commander|piscina|better-sqlite3|chokidar|prom-client)\/|\/dist\/daemon\/|^node:(child_process|crypto)$/;

test('btfd status --json loads no heavy module, and says what the full command line says', async (t) => {
  const dir = fs.mkdtempSync('/tmp/btfd-l-');
  const env = { BTFD_HOME: path.join(dir, 'h') };
  t.after(async () => {
    const status = await runCli(['status', '--json'], env);
    await runCli(['stop'], env);
    if (status.code === 0) await waitForExit(JSON.parse(status.stdout).pid, 10_000);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  assert.equal((await runCli(['start'], env)).code, 0);

  const log = path.join(dir, 'loaded.txt');
  const hooks = path.join(dir, 'hooks.mjs');
  fs.writeFileSync(hooks, `import fs from 'node:fs';
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  fs.appendFileSync(${JSON.stringify(log)}, resolved.url + '\\n');
  return resolved;
}
`);
  const register = `data:text/javascript,import { register } from 'node:module'; register(${JSON.stringify(pathToFileURL(hooks).href)});`;
  const r = spawnSync(process.execPath, ['--import', register, CLI, 'status', '--json'], { env: { ...process.env, ...env }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const loaded = fs.readFileSync(log, 'utf8').trim().split('\n').map((url) => url.replace(/^file:\/\//, ''));
  assert.ok(loaded.some((file) => file.endsWith('/dist/client/daemon-commands.js')), 'the hook saw the command');
  assert.deepEqual(loaded.filter((file) => HEAVY.test(file)), [], 'heavy modules loaded by btfd status --json');

  // The short path and the full command line (an option sends it through commander) agree.
  const fast = JSON.parse(r.stdout);
  const full = JSON.parse((await runCli(['status', '--json', '--workers', '2'], env)).stdout);
  assert.deepEqual(Object.keys(full).sort(), Object.keys(fast).sort());
  assert.deepEqual([full.pid, full.socketPath, full.running], [fast.pid, fast.socketPath, true]);
  const text = (await runCli(['status'], env)).stdout;
  assert.match(text, new RegExp(`^btfd daemon: running \\(pid ${fast.pid},`));
});
