/**
 * Relocation on a whole distro corpus (not run in CI: tens of minutes). The modules are first
 * encoded on the corpus vmlinux's BTF (A). Then, for each new base B made from A (functions added,
 * functions removed, a struct few modules use changed, sk_buff changed), two runs start from that
 * same state (a copy of the tree and of the cache): one relocates what it can, the other re-runs
 * pahole on every module (`relocate: false`, the naive way). Every module's `.BTF` and `.BTF_ids`
 * after the relocating run must equal the regenerating run's bytes (serial pahole: deterministic).
 *
 *   node dist/bench/relocate-corpus.js --corpus DIR [--work DIR] [--rounds N] [--every K]
 *
 * Prints, per base: modules relocated / regenerated, the refusal reasons, the median time of each
 * run and their ratio; exits non-zero on any byte difference or failure.
 */
import { chmod, copyFile, cp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { BTF_KIND, parseBtf } from '../daemon/btf/btf-reader.js';
import { openEngine } from '../daemon/engine/engine.js';
import { readSections } from '../daemon/elf/elf-file.js';
import type { BuildReport } from '../shared/build-types.js';
import { growStruct, insertFunctions, removeFunctions } from '../test/helpers/btf-edit.js';

const { values } = parseArgs({
  options: {
    corpus: { type: 'string' },
    work: { type: 'string', default: '/tmp/btfd-relocate-bench' },
    rounds: { type: 'string', default: '3' },
    every: { type: 'string', default: '1' },
    pahole: { type: 'string', default: 'pahole' },
    flags: { type: 'string', default: '--btf_gen_floats -j --lang_exclude=rust' },
    workers: { type: 'string', default: '2' },
  },
});
if (!values.corpus) {
  process.stderr.write('usage: relocate-corpus --corpus DIR [--work DIR] [--rounds N] [--every K]\n');
  process.exit(2);
}
const corpus = path.resolve(values.corpus);
const work = path.resolve(values.work!);
const rounds = Number(values.rounds);
const every = Number(values.every);
const flags = values.flags!;

function engineOn(cacheDir: string) {
  return openEngine({
    cacheDir,
    config: { pahole: values.pahole!, workers: Number(values.workers), maxCacheBytes: 64 << 30, searchPath: process.env.PATH ?? '' },
    logger: pino({ level: 'silent' }),
  });
}

async function build(cacheDir: string, tree: string, base: string, relocate: boolean): Promise<BuildReport> {
  const engine = engineOn(cacheDir);
  try {
    return await engine.build({ dir: tree, base, paholeFlags: flags, relocate });
  } finally {
    await engine.close();
  }
}

async function modulesIn(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith('.ko')).map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();
}

async function sectionsOf(file: string): Promise<Buffer> {
  const sections = await readSections(file, ['.BTF', '.BTF_ids']);
  return Buffer.concat([sections.get('.BTF') ?? Buffer.alloc(0), Buffer.from('|'), sections.get('.BTF_ids') ?? Buffer.alloc(0)]);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

// The starting state: a copy of every K-th corpus module, encoded on A, and its cache.
await rm(work, { recursive: true, force: true });
const start = { tree: path.join(work, 'start/tree'), cache: path.join(work, 'start/cache') };
const modules = (await modulesIn(corpus)).filter((_, i) => i % every === 0);
for (const module of modules) {
  await mkdir(path.dirname(path.join(start.tree, module)), { recursive: true });
  await copyFile(path.join(corpus, module), path.join(start.tree, module));
  await chmod(path.join(start.tree, module), 0o644);
}
const vmlinuxBtf = (await readSections(path.join(corpus, 'vmlinux'), ['.BTF'])).get('.BTF')!;
const baseA = path.join(work, 'a.btf');
await writeFile(baseA, vmlinuxBtf);
const a = parseBtf(vmlinuxBtf);
const t0 = performance.now();
const cold = await build(start.cache, start.tree, baseA, true);
process.stdout.write(`${modules.length} modules encoded on A in ${((performance.now() - t0) / 1000).toFixed(1)} s (${cold.failed} failed)\n`);

// tcp_sock: a struct only some networking modules reach; sk_buff: one most modules reach.
const bases: Record<string, Buffer> = {
  'functions added': insertFunctions(a, ['btfd_probe_a', 'btfd_probe_b']),
  'functions removed': removeFunctions(a, 20, 3).base,
  'tcp_sock changed': growStruct(a, 'tcp_sock'),
  'sk_buff changed': growStruct(a, 'sk_buff'),
};
if (a.kinds.every((k) => k !== BTF_KIND.FUNC)) throw new Error('the corpus base has no functions');

interface Timing {
  relocate: number[];
  regenerate: number[];
}
let differences = 0;
const timings = new Map<string, Timing>();
const summaries = new Map<string, string>();
for (let round = 1; round <= rounds; round++) {
  for (const [name, bytes] of Object.entries(bases)) {
    const base = path.join(work, `${name.replace(/\W/g, '-')}.btf`);
    await writeFile(base, bytes);
    const runs: Record<'relocate' | 'regenerate', { tree: string; report?: BuildReport; seconds?: number }> = {
      relocate: { tree: path.join(work, 'relocate/tree') },
      regenerate: { tree: path.join(work, 'regenerate/tree') },
    };
    // Alternate which goes first, so neither always runs on a warmer page cache.
    const order = round % 2 === 1 ? (['relocate', 'regenerate'] as const) : (['regenerate', 'relocate'] as const);
    for (const kind of order) {
      const run = runs[kind];
      const root = path.dirname(run.tree);
      await rm(root, { recursive: true, force: true });
      await cp(start.tree, run.tree, { recursive: true });
      await cp(start.cache, path.join(root, 'cache'), { recursive: true });
      const began = performance.now();
      run.report = await build(path.join(root, 'cache'), run.tree, base, kind === 'relocate');
      run.seconds = (performance.now() - began) / 1000;
    }
    const relocated = runs.relocate.report!;
    const regenerated = runs.regenerate.report!;
    for (const module of modules) {
      const mine = await sectionsOf(path.join(runs.relocate.tree, module));
      const pahole = await sectionsOf(path.join(runs.regenerate.tree, module));
      if (!mine.equals(pahole)) {
        differences++;
        process.stdout.write(`DIFFERS: ${name}: ${module}\n`);
      }
    }
    const timing = timings.get(name) ?? { relocate: [], regenerate: [] };
    timing.relocate.push(runs.relocate.seconds!);
    timing.regenerate.push(runs.regenerate.seconds!);
    timings.set(name, timing);
    const reasons = new Map<string, number>();
    for (const result of relocated.results) {
      if (result.outcome !== 'regenerated') continue;
      const why = /refused: (.*?)(?: \(|;)/.exec(result.reason)?.[1] ?? result.reason;
      reasons.set(why, (reasons.get(why) ?? 0) + 1);
    }
    const refusals = [...reasons].sort((x, y) => y[1] - x[1]).map(([why, n]) => `${n} ${why}`).join('; ');
    summaries.set(name, `${relocated.relocated} relocated, ${relocated.regenerated} regenerated${refusals ? ` (${refusals})` : ''}`);
    process.stdout.write(
      `round ${round} ${name}: relocate ${runs.relocate.seconds!.toFixed(1)} s (${relocated.relocated} relocated, ${relocated.regenerated} regenerated, ${relocated.failed} failed); ` +
        `regenerate ${runs.regenerate.seconds!.toFixed(1)} s (${regenerated.regenerated} regenerated, ${regenerated.failed} failed)\n`,
    );
    if (relocated.failed + regenerated.failed > 0) differences++;
  }
}

process.stdout.write(`\n| base B | outcome with relocation | relocate (median) | pahole on every module (median) | speed-up |\n|---|---|---|---|---|\n`);
for (const [name, timing] of timings) {
  const r = median(timing.relocate);
  const g = median(timing.regenerate);
  process.stdout.write(`| ${name} | ${summaries.get(name)} | ${r.toFixed(1)} s | ${g.toFixed(1)} s | ${(g / r).toFixed(1)}× |\n`);
}
process.stdout.write(`\n${differences === 0 ? 'every module equal to pahole on B' : `${differences} differences or failures`}\n`);
await rm(work, { recursive: true, force: true });
process.exit(differences === 0 ? 0 : 1);
