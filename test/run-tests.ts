/**
 * `npm test`: make sure the real pahole is there (installing it when root), then run every
 * compiled test file under node's test runner. Integration tests spawn daemons and pahole, so
 * files run at most two at a time on these two-core machines.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensurePahole } from './demo/ensure-pahole.js';

function findTestFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) return findTestFiles(full);
      return entry.name.endsWith('.test.js') ? [full] : [];
    })
    .sort();
}

const testRoot = path.dirname(fileURLToPath(import.meta.url));
if (!(await ensurePahole(process.env, process.stderr))) process.exit(2);
const filter = process.argv.slice(2);
const files = findTestFiles(testRoot).filter((file) => filter.length === 0 || filter.some((f) => file.includes(f)));
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
