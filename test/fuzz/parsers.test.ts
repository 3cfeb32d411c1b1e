/**
 * Seeded fuzzing of the readers that meet untrusted bytes: the ELF reader (daemon/elf), the BTF
 * reader (daemon/btf/btf-reader.ts) and the `.BTF_ids` resolver (daemon/btf/btf-ids.ts), over
 * mutations of the real modules in test/data (see fuzz-targets.ts). Every answer must be success
 * or a coded BtfdError; a crash fails the test with its seed and case number, and a case that
 * runs longer than CASE_TIMEOUT_MS is a hang (the worker is stopped and the case named).
 *
 * Bounded: BTFD_FUZZ_MS per target (default 10 s), the three one after another in one worker
 * thread at a time (the test machines have two cores, shared with the integration tests), so
 * the whole file takes about 30 s. BTFD_FUZZ_SEED picks the seed (default: fixed, so CI is
 * reproducible; set it to explore further).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import type { FuzzJob, FuzzMessage, TargetName } from './fuzz-targets.js';

const BUDGET_MS = Number(process.env['BTFD_FUZZ_MS'] ?? 10_000);
const SEED = Number(process.env['BTFD_FUZZ_SEED'] ?? 0x13b7fd);
/** One case reads at most a few MB: seconds mean a loop that does not end. */
const CASE_TIMEOUT_MS = 5000;
/** Cases each target must at least run within its budget (the ELF target, which writes a file per case, runs the fewest). */
const MIN_CASES = 50;

interface FuzzResult {
  readonly cases: number;
  readonly codes: Record<string, number>;
  readonly failures: { i: number; input: string; error: string }[];
}

function runTarget(target: TargetName): Promise<FuzzResult> {
  const job: FuzzJob = { target, seed: SEED, budgetMs: BUDGET_MS };
  const worker = new Worker(new URL('./fuzz-targets.js', import.meta.url), { workerData: job, resourceLimits: { maxOldGenerationSizeMb: 1024 } });
  const failures: FuzzResult['failures'] = [];
  return new Promise((resolve, reject) => {
    let current = -1;
    let caseStarted = Date.now();
    const watchdog = setInterval(() => {
      if (Date.now() - caseStarted <= CASE_TIMEOUT_MS) return;
      clearInterval(watchdog);
      void worker.terminate();
      reject(new Error(`${target}: case ${current} (BTFD_FUZZ_SEED=${SEED}) ran over ${CASE_TIMEOUT_MS} ms: a hang`));
    }, 250);
    worker.on('message', (message: FuzzMessage) => {
      if (message.type === 'case') {
        current = message.i;
        caseStarted = Date.now();
      } else if (message.type === 'failure') {
        failures.push({ i: message.i, input: message.input, error: message.error });
      } else {
        clearInterval(watchdog);
        void worker.terminate();
        resolve({ cases: message.cases, codes: message.codes, failures });
      }
    });
    worker.on('error', (err) => {
      clearInterval(watchdog);
      reject(new Error(`${target}: the worker died at case ${current} (BTFD_FUZZ_SEED=${SEED}): ${err.message}`, { cause: err }));
    });
  });
}

function report(target: TargetName, result: FuzzResult): void {
  const unique = new Map<string, { i: number; input: string; error: string }>();
  for (const failure of result.failures) unique.set(failure.error.split('\n').slice(0, 2).join(' | '), failure);
  process.stderr.write(`# fuzz ${target}: seed ${SEED}, ${result.cases} cases, answers ${JSON.stringify(result.codes)}\n`);
  assert.deepEqual(
    [...unique.values()].map((f) => `case ${f.i} (${f.input}): ${f.error}`),
    [],
    `${target}: uncoded failures (reproduce with BTFD_FUZZ_SEED=${SEED})`,
  );
  assert.ok(result.cases >= MIN_CASES, `${target}: only ${result.cases} cases in ${BUDGET_MS} ms`);
}

for (const target of ['elf', 'btf', 'btf-ids'] as const) {
  test(`fuzz ${target}: every mutated input is read or refused with a catalog code, within ${CASE_TIMEOUT_MS} ms`, { timeout: BUDGET_MS + 60_000 }, async () => {
    report(target, await runTarget(target));
  });
}
