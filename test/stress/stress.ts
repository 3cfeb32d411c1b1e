/**
 * `npm run test:stress [-- --rounds N --seed S --load N]`: the crash loop and the load test, on
 * the real daemon with the real pahole, printing figures for docs/reliability.md.
 *
 * Crash loop, each round: switch vmlinux between two variants (types changed, so every module
 * must be rebuilt: regenerated the first time, restored or relocated later), start a build, and
 * SIGKILL the daemon at a random moment of it. Then check, with no daemon running:
 *  - no torn module: each module's state (test/helpers/module-state.ts: what readers see through
 *    its headers) is one of the outcomes a complete build can leave (the pristine module, or what
 *    a complete build gives for either variant, learnt from a reference tree built without kills);
 * then start a daemon, build without a kill, and check:
 *  - the build succeeds and every module is exactly the complete build's state for the variant,
 *  - no leftovers: no btfd temp file in the tree, none in the cache's tmp dir,
 *  - `btfd cache verify` finds nothing corrupt or missing.
 *
 * Load test: one daemon, a cold cache, LOAD concurrent requests over the socket, mixed (builds
 * of the same tree, status, hello, modules, explain, cache stats, /metrics); every answer must be
 * correct, and pahole must run once per distinct module (single-flight), counted by a wrapper.
 *
 * Exit code 0 when every check held; the summary is printed either way.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { connectDaemon, waitForExit } from '../../client/connect.js';
import type { DaemonClient } from '../../client/daemon-client.js';
import { isAtomicTempFile } from '../../daemon/fs/atomic-file.js';
import type { BuildReport } from '../../shared/build-types.js';
import { resolveConfig, type Config } from '../../shared/config.js';
import { createFixtureKernel, fixturePahole, writeVmlinuxVariant, type FixtureKernel, type FixtureVariant } from '../fixtures/fixture-kernel.js';
import { cleanEnv, pidAlive } from '../helpers/daemon-home.js';
import { moduleState } from '../helpers/module-state.js';
import { seededRandom } from '../helpers/seeded-random.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '20' },
    seed: { type: 'string', default: '13' },
    load: { type: 'string', default: '240' },
    copies: { type: 'string', default: '4' },
    keep: { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(values.rounds);
const LOAD = Number(values.load);
/** Copies of the fixture's 7 modules, so a build runs long enough to be killed in many places. */
const COPIES = Number(values.copies);
const VARIANTS: readonly FixtureVariant[] = ['base', 'typechange'];

const random = seededRandom(Number(values.seed));


interface Tree {
  readonly kernel: FixtureKernel;
  /** Every module, the fixture's and the copies. */
  readonly modules: readonly string[];
}

/** A fixture kernel plus COPIES copies of its modules in dirs of their own. */
async function makeTree(dir: string): Promise<Tree> {
  const kernel = await createFixtureKernel(dir);
  const modules = [...kernel.modules];
  for (let c = 0; c < COPIES; c += 1) {
    for (const module of kernel.modules) {
      const copy = path.join(dir, `copy${c}`, path.relative(dir, module));
      fs.mkdirSync(path.dirname(copy), { recursive: true });
      fs.copyFileSync(module, copy);
      modules.push(copy);
    }
  }
  fs.appendFileSync(path.join(dir, 'modules.order'), modules.slice(kernel.modules.length).map((m) => `${path.relative(dir, m)}\n`).join(''));
  return { kernel, modules };
}

function homeConfig(home: string, paholePath: string): { config: Config; env: NodeJS.ProcessEnv } {
  fs.mkdirSync(home, { recursive: true, mode: 0o700 });
  const env = cleanEnv({ BTFD_HOME: home });
  return { config: resolveConfig({ env, flags: { pahole: paholePath, workers: 2 } }), env };
}

async function startClient(home: { config: Config; env: NodeJS.ProcessEnv }): Promise<DaemonClient> {
  return connectDaemon(home.config, { autostart: true, env: home.env, startTimeoutMs: 30_000 });
}

async function stopClient(client: DaemonClient): Promise<void> {
  const pid = client.identity.pid;
  await client.stop().catch(() => {});
  await waitForExit(pid, 15_000);
  client.close();
}

/** btfd temp files anywhere under `dir`. */
function tempFilesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const found: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && isAtomicTempFile(entry.name)) found.push(path.join(entry.parentPath, entry.name));
  }
  return found;
}

/** Entries of the cache's tmp dir (regenerate's private copies). */
function cacheTmpEntries(config: Config): string[] {
  const tmp = path.join(config.cacheDir, 'tmp');
  return fs.existsSync(tmp) ? fs.readdirSync(tmp) : [];
}

interface CrashFigures {
  rounds: number;
  killedMidBuild: number;
  killedAfterBuild: number;
  killAtMs: number[];
  modulesChecked: number;
  tornModules: string[];
  recoveryFailures: string[];
  wrongAfterRecovery: string[];
  leftoversAfterKill: number;
  /** Distinct btfd temp files (tree) and cache/tmp entries still there after a complete build. */
  leftoversAfterRecovery: Set<string>;
  roundsWithLeftovers: number;
  buildWindowMs: number[];
  verifyProblems: string[];
  recoveryOutcomes: Record<string, number>;
}

async function crashLoop(root: string): Promise<CrashFigures> {
  const pahole = fixturePahole();
  // Reference: the outcomes a complete build leaves, per module and variant.
  const reference = await makeTree(path.join(root, 'ref'));
  const pristine = new Map(await Promise.all(reference.modules.map(async (m) => [path.relative(reference.kernel.dir, m), await moduleState(m)] as const)));
  const complete = new Map<FixtureVariant, Map<string, string>>();
  const refHome = homeConfig(path.join(root, 'ref-home'), pahole);
  const refClient = await startClient(refHome);
  // How long a complete build takes: cold (regenerate) for the first two, restores after.
  const buildMs: number[] = [];
  for (const variant of [...VARIANTS, ...VARIANTS]) {
    await writeVmlinuxVariant(reference.kernel, variant);
    const started = Date.now();
    const report = await refClient.build({ dir: reference.kernel.dir });
    buildMs.push(Date.now() - started);
    if (report.failed !== 0) throw new Error(`reference build failed: ${JSON.stringify(report.failures)}`);
    const shas = new Map(await Promise.all(reference.modules.map(async (m) => [path.relative(reference.kernel.dir, m), await moduleState(m)] as const)));
    const known = complete.get(variant);
    if (known && [...shas].some(([m, s]) => known.get(m) !== s)) throw new Error(`a complete build of ${variant} is not byte-stable`);
    complete.set(variant, shas);
  }
  await stopClient(refClient);

  const tree = await makeTree(path.join(root, 'tree'));
  const home = homeConfig(path.join(root, 'home'), pahole);
  const figures: CrashFigures = {
    rounds: 0, killedMidBuild: 0, killedAfterBuild: 0, killAtMs: [], modulesChecked: 0, tornModules: [], recoveryFailures: [],
    wrongAfterRecovery: [], leftoversAfterKill: 0, leftoversAfterRecovery: new Set(), roundsWithLeftovers: 0, buildWindowMs: buildMs, verifyProblems: [], recoveryOutcomes: {},
  };
  for (let round = 0; round < ROUNDS; round += 1) {
    // Kills land within the time a complete build of this kind takes (and a little after it).
    const windowMs = Math.max(100, buildMs[Math.min(round, buildMs.length - 1)]! * 1.2);
    const variant = VARIANTS[round % VARIANTS.length]!;
    await writeVmlinuxVariant(tree.kernel, variant);
    const client = await startClient(home);
    const pid = client.identity.pid;
    const killAt = Math.floor(random() * windowMs);
    let finished = false;
    const build = client.build({ dir: tree.kernel.dir }).then(() => (finished = true), () => {});
    await new Promise((resolve) => setTimeout(resolve, killAt));
    process.kill(pid, 'SIGKILL');
    await build;
    await waitForExit(pid, 10_000);
    client.close();
    if (pidAlive(pid)) throw new Error(`daemon ${pid} survived SIGKILL`);
    figures.rounds += 1;
    figures.killAtMs.push(killAt);
    if (finished) figures.killedAfterBuild += 1;
    else figures.killedMidBuild += 1;

    // No torn module: each is pristine, or a complete build's state for either variant.
    for (const module of tree.modules) {
      const relative = path.relative(tree.kernel.dir, module);
      const now = await moduleState(module);
      const valid = [pristine.get(relative), ...VARIANTS.map((v) => complete.get(v)!.get(relative))];
      figures.modulesChecked += 1;
      if (!valid.includes(now)) figures.tornModules.push(`round ${round}: ${relative}`);
    }
    figures.leftoversAfterKill += tempFilesUnder(tree.kernel.dir).length;

    // Recovery: a daemon again, a build without a kill.
    const again = await startClient(home);
    let report: BuildReport;
    try {
      report = await again.build({ dir: tree.kernel.dir });
    } catch (err) {
      figures.recoveryFailures.push(`round ${round}: ${String(err)}`);
      await stopClient(again);
      continue;
    }
    for (const key of ['fresh', 'restored', 'relocated', 'regenerated', 'failed'] as const) {
      figures.recoveryOutcomes[key] = (figures.recoveryOutcomes[key] ?? 0) + report[key];
    }
    if (report.failed > 0) figures.recoveryFailures.push(`round ${round}: ${JSON.stringify(report.failures.map((f) => f.error?.code))}`);
    for (const module of tree.modules) {
      const relative = path.relative(tree.kernel.dir, module);
      if ((await moduleState(module)) !== complete.get(variant)!.get(relative)) figures.wrongAfterRecovery.push(`round ${round}: ${relative}`);
    }
    const leftovers = [...tempFilesUnder(tree.kernel.dir), ...cacheTmpEntries(home.config).map((name) => `cache/tmp/${name}`)];
    if (leftovers.length > 0) figures.roundsWithLeftovers += 1;
    for (const file of leftovers) figures.leftoversAfterRecovery.add(file);
    const verify = await again.cacheVerify();
    if (verify.corrupt.length > 0 || verify.missing.length > 0) figures.verifyProblems.push(`round ${round}: ${JSON.stringify(verify)}`);
    await stopClient(again);
    process.stderr.write(`round ${round + 1}/${ROUNDS}: ${variant}, killed at ${killAt} ms${finished ? ' (after the build)' : ''}; torn ${figures.tornModules.length}, leftovers ${figures.leftoversAfterRecovery.size}\n`);
  }
  return figures;
}

function get(socketPath: string, url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ socketPath, path: url }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

interface LoadFigures {
  requests: number;
  byKind: Record<string, number>;
  wrong: string[];
  builds: number;
  modules: number;
  distinctModules: number;
  paholeEncodes: number;
  seconds: number;
  p50Ms: number;
  maxMs: number;
}

async function loadTest(root: string): Promise<LoadFigures> {
  const dir = path.join(root, 'load');
  fs.mkdirSync(dir, { recursive: true });
  const log = path.join(dir, 'encodes.log');
  const wrapper = path.join(dir, 'pahole');
  fs.writeFileSync(wrapper, `#!/bin/sh\n[ "$1" = --version ] || echo "$*" >> '${log}'\nexec '${fixturePahole()}' "$@"\n`, { mode: 0o755 });
  fs.writeFileSync(log, '');
  const tree = await makeTree(path.join(dir, 'k'));
  // Copies are byte-identical: single-flight at its best runs pahole once per distinct module.
  const distinctModules = new Set(tree.modules.map((m) => createHash('sha256').update(fs.readFileSync(m)).digest('hex'))).size;
  const home = homeConfig(path.join(dir, 'home'), wrapper);
  const client = await startClient(home);
  const socket = home.config.socketPath;
  const kinds = ['build', 'build', 'status', 'hello', 'modules', 'explain', 'stats', 'metrics'] as const;
  const wrong: string[] = [];
  const byKind: Record<string, number> = {};
  const latencies: number[] = [];
  const started = Date.now();
  let builds = 0;
  await Promise.all(Array.from({ length: LOAD }, async (_, i) => {
    const kind = kinds[i % kinds.length]!;
    byKind[kind] = (byKind[kind] ?? 0) + 1;
    const t0 = Date.now();
    try {
      switch (kind) {
        case 'build': {
          builds += 1;
          const report = await client.build({ dir: tree.kernel.dir });
          if (report.failed !== 0 || report.modules !== tree.modules.length) wrong.push(`build ${i}: ${report.failed} failed of ${report.modules}`);
          break;
        }
        case 'status': {
          const status = await client.status();
          if (status.pid !== client.identity.pid) wrong.push(`status ${i}: pid ${status.pid}`);
          break;
        }
        case 'hello':
          await client.hello();
          break;
        case 'modules':
          await client.modules(tree.kernel.dir);
          break;
        case 'explain': {
          const explanation = await client.explain({ path: tree.modules[i % tree.modules.length]! });
          if (explanation.key.length !== 64) wrong.push(`explain ${i}: key ${explanation.key}`);
          break;
        }
        case 'stats':
          await client.cacheStats();
          break;
        case 'metrics': {
          const response = await get(socket, '/metrics');
          if (response.status !== 200 || !response.body.includes('btfd_cache_entries')) wrong.push(`metrics ${i}: ${response.status}`);
          break;
        }
      }
    } catch (err) {
      wrong.push(`${kind} ${i}: ${String(err)}`);
    }
    latencies.push(Date.now() - t0);
  }));
  const seconds = (Date.now() - started) / 1000;
  // Every module file must hold the complete build's bytes: one more build finds all fresh.
  const check = await client.build({ dir: tree.kernel.dir });
  if (check.fresh !== tree.modules.length) wrong.push(`after the load: ${check.fresh} of ${tree.modules.length} fresh`);
  await stopClient(client);
  latencies.sort((a, b) => a - b);
  const paholeEncodes = fs.readFileSync(log, 'utf8').split('\n').filter((line) => line.includes('-J')).length;
  return {
    requests: LOAD, byKind, wrong, builds, modules: tree.modules.length, distinctModules, paholeEncodes, seconds,
    p50Ms: latencies[Math.floor(latencies.length / 2)] ?? 0, maxMs: latencies[latencies.length - 1] ?? 0,
  };
}

const root = fs.mkdtempSync('/tmp/btfd-stress-');
let ok = false;
try {
  process.env['LLVM_OBJCOPY'] ??= 'objcopy';
  const crash = await crashLoop(root);
  const load = await loadTest(root);
  const summary = {
    seed: Number(values.seed),
    crash: {
      ...crash,
      killAtMs: { min: Math.min(...crash.killAtMs), max: Math.max(...crash.killAtMs) },
      leftoversAfterRecovery: [...crash.leftoversAfterRecovery],
    },
    load,
  };
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  ok = crash.tornModules.length === 0 && crash.recoveryFailures.length === 0 && crash.wrongAfterRecovery.length === 0
    && crash.leftoversAfterRecovery.size === 0 && crash.verifyProblems.length === 0 && load.wrong.length === 0;
  process.stdout.write(ok ? 'stress: every check held\n' : 'stress: FAILED (see above)\n');
} finally {
  if (!values.keep) fs.rmSync(root, { recursive: true, force: true });
  else process.stderr.write(`kept ${root}\n`);
}
process.exit(ok ? 0 : 1);
