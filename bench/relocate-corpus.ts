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
 * Prints, per base: modules relocated / regenerated, the refusal reasons and how many of them were
 * needless (the rewrite, forced past the checks, equals pahole's bytes anyway), the median time of
 * each run and their ratio; exits non-zero on any byte difference or failure.
 */
import { chmod, copyFile, cp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { computeBaseDiff } from '../daemon/btf/base-diff.js';
import { BTF_KIND, parseBtf } from '../daemon/btf/btf-reader.js';
import { relocateSplitBtf, relocationTarget } from '../daemon/btf/relocate.js';
import { openEngine } from '../daemon/engine/engine.js';
import { readSections } from '../daemon/elf/elf-file.js';
import { readModuleNames } from '../daemon/elf/elf-names.js';
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
    config: { pahole: values.pahole!, workers: Number(values.workers), maxCacheBytes: 64 * 2 ** 30, searchPath: process.env.PATH ?? '' },
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

/** A refusal's first reason, without the names and ids that make each one different. */
function refusalKind(reason: string): string {
  const first = /refused: (.*?)(?:; |$)/.exec(reason)?.[1] ?? reason;
  const kinds: [RegExp, string][] = [
    [/^base type .* is gone or changed$/, 'a base type it uses changed'],
    [/^base type .* has several equals/, 'a base type it uses has several equals'],
    [/DWARF names/, 'its DWARF names a changed base type'],
    [/^the module defines /, 'it defines a function whose base FUNC changed'],
    [/^the new base has an equal/, 'an own type is now in the base'],
    [/^base string/, 'a base string it uses is gone'],
    [/name count changed/, 'a struct name count changed'],
  ];
  return kinds.find(([pattern]) => pattern.test(first))?.[1] ?? first;
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
    if (round === 1) {
      // Which refusals were needed: force the rewrite and compare it with pahole's bytes on B.
      const b = parseBtf(bytes);
      const target = relocationTarget(a, b, computeBaseDiff(a, b));
      const kinds = new Map<string, { needed: number; needless: number }>();
      for (const result of relocated.results) {
        if (result.outcome !== 'regenerated') continue;
        const module = path.relative(runs.relocate.tree, result.path);
        const cachedOnA = (await readSections(path.join(start.tree, module), ['.BTF'])).get('.BTF')!;
        const forced = await relocateSplitBtf(cachedOnA, target, () => readModuleNames(result.path, { dwarf: true }), { unchecked: true });
        const pahole = (await readSections(path.join(runs.regenerate.tree, module), ['.BTF'])).get('.BTF')!;
        const kind = refusalKind(result.reason);
        const count = kinds.get(kind) ?? { needed: 0, needless: 0 };
        if (forced.ok && forced.btf.equals(pahole)) count.needless++;
        else count.needed++;
        kinds.set(kind, count);
      }
      const refusals = [...kinds]
        .sort((x, y) => y[1].needed + y[1].needless - x[1].needed - x[1].needless)
        .map(([kind, n]) => `${n.needed + n.needless} ${kind}${n.needless > 0 ? `, ${n.needless} of them needless` : ''}`)
        .join('; ');
      summaries.set(name, `${relocated.relocated} relocated, ${relocated.regenerated} regenerated${refusals ? ` (${refusals})` : ''}`);
    }
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
