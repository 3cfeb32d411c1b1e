/**
 * `npm run bench -- --corpus DIR [--modules N] [--runs R] [--json OUT] [--scenarios a,b]`
 *
 * Measures every scenario (scenarios/index.ts) against the naive way in the same run, R
 * repetitions, btfd and naive interleaved, on a scratch copy of the corpus's first N modules
 * with `.BTF` stripped; prints a summary table of medians and spread, and writes every figure
 * with the machine, pahole, commit and date to OUT.
 */
import { mkdtemp, realpath, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createProgress } from './progress.js';
import { q, run } from './run-process.js';
import { formatSummary } from './summary.js';
import type { BenchResults, ScenarioResult } from './results.js';
import { createRound, type Round } from './round.js';
import { SCENARIOS } from './scenarios/index.js';
import { summarize } from './summarize.js';
import { pickModules } from './tree.js';

/** Debian 6.1's flags (scripts/pahole-flags.sh for pahole 1.24), as kbuild passes them. */
const DEFAULT_FLAGS = '--btf_gen_floats -j --lang_exclude=rust';

const { values } = parseArgs({
  options: {
    corpus: { type: 'string' },
    modules: { type: 'string' },
    runs: { type: 'string', default: '3' },
    json: { type: 'string' },
    scenarios: { type: 'string' },
    pahole: { type: 'string', default: 'pahole' },
    flags: { type: 'string', default: DEFAULT_FLAGS },
    work: { type: 'string', default: os.tmpdir() },
    help: { type: 'boolean', short: 'h' },
  },
});
const USAGE = `usage: npm run bench -- --corpus DIR [--modules N] [--runs R] [--json OUT] [--scenarios a,b]
         [--pahole P] [--flags F] [--work DIR]
  --corpus DIR     a kernel corpus: DIR/vmlinux and DIR/**/*.ko (bench/fetch-corpus.sh fetches one)
  --modules N      the corpus's first N modules (default: all)
  --runs R         repetitions, btfd and naive interleaved (default 3)
  --json OUT       write every figure, with machine, pahole, commit and date, to OUT
  --scenarios a,b  only these (they run in the order listed below; default: all)
  --pahole P       the pahole both sides run (default: pahole on PATH)
  --flags F        pahole flags, as kbuild passes them (default: "${DEFAULT_FLAGS}")
  --work DIR       where the scratch copy goes (default: ${os.tmpdir()})
scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}
`;
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
if (!values.corpus) {
  process.stderr.write(USAGE);
  process.exit(2);
}
const wanted = values.scenarios?.split(',').map((s) => s.trim()).filter(Boolean);
const unknown = wanted?.filter((w) => !SCENARIOS.some((s) => s.name === w)) ?? [];
if (unknown.length > 0) {
  process.stderr.write(`unknown scenario(s): ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}\n`);
  process.exit(2);
}
const scenarios = SCENARIOS.filter((s) => !wanted || wanted.includes(s.name));
const runs = Number(values.runs);
const moduleCount = values.modules === undefined ? undefined : Number(values.modules);
for (const [name, n] of [['--runs', runs], ['--modules', moduleCount ?? 1]] as const) {
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`${name} must be a positive integer\n`);
    process.exit(2);
  }
}
const corpus = path.resolve(values.corpus);
if (!(await stat(path.join(corpus, 'vmlinux')).catch(() => null))) {
  process.stderr.write(`no vmlinux in ${corpus}: fetch a corpus with bench/fetch-corpus.sh\n`);
  process.exit(2);
}
const corpusModules = await pickModules(corpus, undefined);
const modules = moduleCount === undefined ? corpusModules : corpusModules.slice(0, moduleCount);
const jobs = os.availableParallelism();
const paholePath = (await run('sh', ['-c', `command -v ${q(values.pahole!)}`])).stdout.trim();
const pahole = { path: paholePath, flags: values.flags! };
const paholeVersion = (await run(paholePath, ['--version'])).stdout.trim();
const commit = (await run('git', ['rev-parse', '--short', 'HEAD'], { allowFailure: true })).stdout.trim() || 'unknown';
const dirty = (await run('git', ['status', '--porcelain', '--untracked-files=no'], { allowFailure: true })).stdout.trim() !== '';
const moduleBytes = (await Promise.all(modules.map(async (m) => (await stat(path.join(corpus, m))).size))).reduce((a, b) => a + b, 0);
// A short dir: the daemon's socket lives under it (unix socket paths are limited to ~108 bytes).
const work = await realpath(await mkdtemp(path.join(values.work!, 'btfdb-')));
const loadStart = os.loadavg();
const progress = createProgress(runs * scenarios.length);
const started = performance.now();

process.stderr.write(`${modules.length} of ${corpusModules.length} modules from ${corpus} (${(moduleBytes / 2 ** 20).toFixed(0)} MiB), ` +
  `${runs} runs, ${jobs} cores, load ${loadStart.map((l) => l.toFixed(2)).join(' ')}, ${paholeVersion} (${pahole.flags})\n`);

// Ctrl-C: stop this round's daemon and remove the scratch dir before exiting.
let current: Round | null = null;
process.once('SIGINT', () => {
  progress.done();
  process.stderr.write('interrupted: cleaning up\n');
  void (current?.close() ?? Promise.resolve())
    .catch(() => undefined)
    .then(() => rm(work, { recursive: true, force: true }))
    .finally(() => process.exit(130));
});

const samples = new Map(scenarios.map((s) => [s.name, { naive: [] as number[][], btfd: [] as number[][], details: [] as Record<string, number | string>[] }]));
try {
  for (let r = 0; r < runs; r++) {
    const round = createRound({ index: r, corpus, modules, work, jobs, pahole, progress: (text) => progress.note(text) });
    current = round;
    try {
      for (const scenario of scenarios) {
        progress.step(`run ${r + 1}/${runs} ${scenario.name}`);
        const sample = await scenario.run(round);
        const into = samples.get(scenario.name)!;
        into.naive.push([...sample.naive]);
        into.btfd.push([...sample.btfd]);
        into.details.push({ ...sample.detail });
      }
    } finally {
      await round.close();
    }
  }
} finally {
  progress.done();
  await rm(work, { recursive: true, force: true });
}

const results: ScenarioResult[] = scenarios.map((s) => {
  const got = samples.get(s.name)!;
  return summarize({ name: s.name, title: s.title, naiveLabel: s.naive, unit: s.unit, goal: s.goal, samples: { naive: got.naive, btfd: got.btfd }, details: got.details });
});
const out: BenchResults = {
  date: new Date().toISOString(),
  command: `npm run bench -- ${process.argv.slice(2).join(' ')}`,
  commit: dirty ? `${commit}-dirty` : commit,
  machine: { nproc: jobs, cpu: os.cpus()[0]?.model ?? 'unknown', memGiB: Math.round(os.totalmem() / 2 ** 30), loadStart, loadEnd: os.loadavg() },
  pahole: { path: paholePath, version: paholeVersion, flags: pahole.flags },
  corpus: { dir: corpus, modules: modules.length, corpusModules: corpusModules.length, moduleBytes },
  runs,
  seconds: (performance.now() - started) / 1000,
  scenarios: results,
};
process.stdout.write(formatSummary(out));
if (values.json) {
  await writeFile(values.json, JSON.stringify(out, null, 2) + '\n');
  process.stderr.write(`wrote ${values.json}\n`);
}
