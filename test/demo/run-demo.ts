/**
 * `npm run demo`: btfd's main job on the built-in fixture kernel, scenario by scenario, printed as
 * a table of what happened and how long it took. Each scenario also states what must happen; the
 * demo exits non-zero when the engine did anything else, so it doubles as an end-to-end check.
 */
import { mkdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { openEngine } from '../../daemon/engine/engine.js';
import { createFixtureKernel } from '../fixtures/fixture-kernel.js';
import { SCENARIOS } from './demo-scenarios.js';
import { DEMO_TOOLS, ensureSystemTools } from '../tools/ensure-tools.js';

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
  process.stdout.write(`${'scenario'.padEnd(30)} ${pad('fresh', 6)} ${pad('restored', 9)} ${pad('reloc', 6)} ${pad('regen', 6)} ${pad('failed', 7)} ${pad('time', 8)}  check\n`);
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
        `${scenario.name.padEnd(30)} ${pad(report.fresh, 6)} ${pad(report.restored, 9)} ${pad(report.relocated, 6)} ${pad(report.regenerated, 6)} ${pad(report.failed, 7)} ${pad(`${(report.seconds * 1000).toFixed(0)}ms`, 8)}  ${check}\n`,
      );
      for (const failure of report.failures) process.stdout.write(`    ${failure.path}: ${failure.error?.code}: ${failure.reason}\n`);
    }
    const stats = engine.store.stats(256 * 1024 * 1024);
    process.stdout.write(`\ncache: ${stats.entries} entries, ${stats.bytes} bytes, ${stats.hits} hits, ${stats.misses} misses, ${stats.relocated} relocated\n`);
    process.stdout.write(`try: BTFD_HOME=${root} node dist/client/main.js explain --no-daemon ${path.relative(process.cwd(), kernel.modules[0]!)}\n`);
  } finally {
    await engine.close();
  }
  return mismatches === 0 ? 0 : 1;
}

process.exitCode = await main();
