/**
 * `npm run demo`: btfd's main job on the built-in fixture kernel, scenario by scenario, printed as
 * a table of what happened and how long it took. Each scenario also states what must happen; the
 * demo exits non-zero when the engine did anything else, so it doubles as an end-to-end check.
 */
import { mkdir, rm, utimes } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import type { BuildReport } from '../../shared/build-types.js';
import { openEngine } from '../../daemon/engine/engine.js';
import { changeModule, createFixtureKernel, writeVmlinuxVariant, type FixtureKernel } from '../fixtures/fixture-kernel.js';
import { DEMO_TOOLS, ensureSystemTools } from '../tools/ensure-tools.js';

interface Scenario {
  readonly name: string;
  /** Change the tree before the build. */
  readonly change: (kernel: FixtureKernel) => Promise<void>;
  /** Expected counts, as functions of the module count. */
  readonly expect: (modules: number) => Pick<BuildReport, 'fresh' | 'restored' | 'regenerated' | 'failed'>;
}

const SCENARIOS: readonly Scenario[] = [
  { name: 'cold build', change: async () => undefined, expect: (n) => ({ fresh: 0, restored: 0, regenerated: n, failed: 0 }) },
  { name: 'rebuild, nothing changed', change: async () => undefined, expect: (n) => ({ fresh: n, restored: 0, regenerated: 0, failed: 0 }) },
  {
    name: 'touch vmlinux',
    change: async (k) => {
      const now = new Date();
      await utimes(k.vmlinux, now, now);
    },
    expect: (n) => ({ fresh: n, restored: 0, regenerated: 0, failed: 0 }),
  },
  {
    name: 'vmlinux relinked, same types',
    change: (k) => writeVmlinuxVariant(k, 'relinked'),
    expect: (n) => ({ fresh: n, restored: 0, regenerated: 0, failed: 0 }),
  },
  {
    name: 'base type changed',
    change: (k) => writeVmlinuxVariant(k, 'typechange'),
    expect: (n) => ({ fresh: 0, restored: 0, regenerated: n, failed: 0 }),
  },
  {
    name: 'base type change reverted',
    change: (k) => writeVmlinuxVariant(k, 'base'),
    expect: (n) => ({ fresh: 0, restored: n, regenerated: 0, failed: 0 }),
  },
  {
    name: 'one module changed',
    change: async (k) => changeModule(k, path.basename(k.modules[0]!, '.ko')),
    expect: (n) => ({ fresh: n - 1, restored: 0, regenerated: 1, failed: 0 }),
  },
];

function pad(text: string | number, width: number): string {
  return String(text).padStart(width);
}

async function main(): Promise<number> {
  if (!(await ensureSystemTools(DEMO_TOOLS, process.env, process.stderr))) return 2;
  const pahole = process.env.BTFD_PAHOLE || 'pahole';
  const root = path.resolve(process.env.BTFD_DEMO_DIR ?? '.btfd-demo');
  await rm(root, { recursive: true, force: true });
  await mkdir(root, { recursive: true });
  const kernel = await createFixtureKernel(path.join(root, 'kernel'));
  const engine = openEngine({
    cacheDir: path.join(root, 'cache'),
    config: {
      pahole,
      workers: os.availableParallelism(),
      maxCacheBytes: 256 * 1024 * 1024,
      searchPath: process.env.PATH ?? '/usr/bin:/bin',
    },
    logger: pino({ level: 'silent' }),
  });
  process.stdout.write(`btfd demo: fixture kernel with ${kernel.modules.length} modules in ${kernel.dir}\n\n`);
  process.stdout.write(`${'scenario'.padEnd(30)} ${pad('fresh', 6)} ${pad('restored', 9)} ${pad('regen', 6)} ${pad('failed', 7)} ${pad('time', 8)}  check\n`);
  let mismatches = 0;
  try {
    for (const scenario of SCENARIOS) {
      await scenario.change(kernel);
      const report = await engine.build({ dir: kernel.dir });
      const expected = scenario.expect(kernel.modules.length);
      const ok = (Object.keys(expected) as (keyof typeof expected)[]).every((k) => report[k] === expected[k]);
      if (!ok) mismatches++;
      const check = ok ? 'ok' : `MISMATCH, expected ${JSON.stringify(expected)}`;
      process.stdout.write(
        `${scenario.name.padEnd(30)} ${pad(report.fresh, 6)} ${pad(report.restored, 9)} ${pad(report.regenerated, 6)} ${pad(report.failed, 7)} ${pad(`${(report.seconds * 1000).toFixed(0)}ms`, 8)}  ${check}\n`,
      );
      for (const failure of report.failures) process.stdout.write(`    ${failure.path}: ${failure.error?.code}: ${failure.reason}\n`);
    }
    const stats = engine.store.stats(256 * 1024 * 1024);
    process.stdout.write(`\ncache: ${stats.entries} entries, ${stats.bytes} bytes, ${stats.hits} hits, ${stats.misses} misses\n`);
    process.stdout.write(`try: BTFD_HOME=${root} node dist/client/main.js explain --no-daemon ${path.relative(process.cwd(), kernel.modules[0]!)}\n`);
  } finally {
    await engine.close();
  }
  return mismatches === 0 ? 0 : 1;
}

process.exitCode = await main();
