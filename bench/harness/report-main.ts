/**
 * `npm run bench:report -- RESULTS.json`: BENCHMARKS.md's generated block and the SVG chart
 * (bench/results/chart.svg) from a run of `npm run bench -- … --json RESULTS.json`.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { renderChart } from './chart.js';
import { renderReport, spliceReport } from './report.js';
import type { BenchResults } from './results.js';

const jsonPath = process.argv[2];
if (!jsonPath) {
  process.stderr.write('usage: npm run bench:report -- RESULTS.json\n');
  process.exit(2);
}
const results = JSON.parse(await readFile(jsonPath, 'utf8')) as BenchResults;
const chart = 'bench/results/chart.svg';
await writeFile(chart, renderChart(results));
const doc = await readFile('BENCHMARKS.md', 'utf8');
await writeFile('BENCHMARKS.md', spliceReport(doc, renderReport(results, chart, path.relative(process.cwd(), path.resolve(jsonPath)))));
process.stderr.write(`wrote ${chart} and BENCHMARKS.md\n`);
