/**
 * `npm test`: make sure the real tools are there (installing missing Debian packages when root,
 * and Debian 13's pahole 1.30 into the checkout's .cache/), then run every compiled test file under
 * node's test runner with the system pahole (Debian 12's 1.24), and the engine, drop-in and daemon
 * tests once more with pahole 1.30. Integration tests spawn daemons and pahole, so files run at
 * most two at a time on these two-core machines.
 *
 * `npm test -- FILTER…` runs only the files whose path contains a filter, in both passes.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensurePahole130, ensureSystemTools, TEST_TOOLS, toolSearchPath } from './tools/ensure-tools.js';

/** Tests that hold for any pahole: they run a second time with pahole 1.30. */
const PAHOLE_AGNOSTIC = [
  'fixtures/fixture-kernel.test.js',
  'integration/engine.test.js',
  'integration/engine-races.test.js',
  'integration/relocate.test.js',
  'integration/shim.test.js',
  'integration/cli-build.test.js',
  'integration/daemon-build.test.js',
  'integration/daemon-watch.test.js',
  'integration/watch.test.js',
];

/** Compiled test files whose source still exists (tsc leaves a deleted test's output in dist/). */
function findTestFiles(dir: string, sourceDir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) return findTestFiles(full, path.join(sourceDir, entry.name));
      const source = path.join(sourceDir, entry.name.replace(/\.js$/, '.ts'));
      return entry.name.endsWith('.test.js') && existsSync(source) ? [full] : [];
    })
    .sort();
}

function runPass(name: string, files: readonly string[], env: NodeJS.ProcessEnv): number {
  if (files.length === 0) return 0;
  process.stderr.write(`\n# btfd: ${name} (${files.length} files)\n`);
  const result = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...files], { stdio: 'inherit', env });
  return result.status ?? 1;
}

const testRoot = path.dirname(fileURLToPath(import.meta.url));
if (!(await ensureSystemTools(TEST_TOOLS, process.env, process.stderr))) process.exit(2);
const pahole130 = ensurePahole130(process.stderr);
if (pahole130 === null) process.exit(2);

const filter = process.argv.slice(2);
const files = findTestFiles(testRoot, path.resolve(testRoot, '../../test')).filter((file) => filter.length === 0 || filter.some((f) => file.includes(f)));
const env = { ...process.env, PATH: toolSearchPath(process.env), BTFD_TEST_PAHOLE_130: pahole130 };
const first = runPass('every test, system pahole', files, env);
const second = runPass(
  'pahole-agnostic tests again, pahole 1.30',
  files.filter((file) => PAHOLE_AGNOSTIC.some((suffix) => file.endsWith(suffix))),
  { ...env, BTFD_PAHOLE: pahole130 },
);
process.exit(first !== 0 ? first : second);
