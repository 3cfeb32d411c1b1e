/**
 * `npm run bench:report -- RESULTS.json [MORE.json…]`: BENCHMARKS.md's generated block and the
 * SVG chart (bench/results/chart.svg, from the first) from runs of `npm run bench -- … --json`.
 * Each run gets its own section, in the order given.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { renderChart } from './chart.js';
import { renderReport, spliceReport } from './report.js';
import type { BenchResults } from './results.js';
import { summarize } from './summarize.js';

const jsonPaths = process.argv.slice(2);
if (jsonPaths.length === 0) {
  process.stderr.write('usage: npm run bench:report -- RESULTS.json [MORE.json…]\n');
  process.exit(2);
}
// Re-summarized from the raw figures, so a JSON from an older harness gets today's statistics.
const runs = await Promise.all(jsonPaths.map(async (p) => {
  const raw = JSON.parse(await readFile(p, 'utf8')) as BenchResults;
  return { results: { ...raw, scenarios: raw.scenarios.map(summarize) }, jsonPath: path.relative(process.cwd(), path.resolve(p)) };
}));
const chart = 'bench/results/chart.svg';
await writeFile(chart, renderChart(runs[0]!.results));
const doc = await readFile('BENCHMARKS.md', 'utf8');
await writeFile('BENCHMARKS.md', spliceReport(doc, renderReport(runs, chart)));
process.stderr.write(`wrote ${chart} and BENCHMARKS.md\n`);
