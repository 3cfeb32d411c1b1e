/**
 * One SVG chart of a run, written by hand (no chart library): for each scenario with a naive
 * side, a bar of btfd ÷ naive on a log axis around 1 (left: btfd faster), green where the goal is
 * met, red where it is missed, grey without a goal; a black tick marks the goal's ratio.
 */
import { goalRatio } from './goal-ratio.js';
import { formatRatio } from './format.js';
import type { BenchResults } from './results.js';

const LABEL_W = 330;
const PLOT_W = 420;
const ROW_H = 24;
const TOP = 40;
const MIN_LOG = -3; // 1/1000
const MAX_LOG = 2; // 100

function escape(s: string): string {
  return s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

export function renderChart(r: BenchResults): string {
  const rows = r.scenarios.filter((s) => s.ratio !== null && s.ratio > 0);
  const height = TOP + rows.length * ROW_H + 40;
  const width = LABEL_W + PLOT_W + 70;
  const x = (ratio: number) => LABEL_W + ((Math.min(MAX_LOG, Math.max(MIN_LOG, Math.log10(ratio))) - MIN_LOG) / (MAX_LOG - MIN_LOG)) * PLOT_W;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">btfd ÷ naive, ${r.corpus.modules} modules, median over ${r.runs} run${r.runs === 1 ? '' : 's'} (log scale; left of 1: btfd faster)</text>`,
  ];
  for (let e = MIN_LOG; e <= MAX_LOG; e++) {
    const gx = x(10 ** e);
    parts.push(`<line x1="${gx}" y1="${TOP - 6}" x2="${gx}" y2="${TOP + rows.length * ROW_H}" stroke="${e === 0 ? '#000' : '#ccc'}"/>`);
    parts.push(`<text x="${gx}" y="${TOP + rows.length * ROW_H + 16}" text-anchor="middle">${e < 0 ? `1/${10 ** -e}` : `${10 ** e}`}</text>`);
  }
  rows.forEach((s, i) => {
    const y = TOP + i * ROW_H;
    const one = x(1);
    const end = x(s.ratio!);
    const color = s.met === null ? '#999' : s.met ? '#2a9d4b' : '#d1495b';
    parts.push(`<text x="${LABEL_W - 8}" y="${y + 15}" text-anchor="end">${escape(s.title)}</text>`);
    parts.push(`<rect x="${Math.min(one, end)}" y="${y + 4}" width="${Math.max(1, Math.abs(end - one))}" height="${ROW_H - 8}" fill="${color}"/>`);
    const goal = goalRatio(s);
    if (goal !== null) parts.push(`<line x1="${x(goal)}" y1="${y + 1}" x2="${x(goal)}" y2="${y + ROW_H - 1}" stroke="#000" stroke-width="2"/>`);
    const labelX = Math.max(one, end) + 4;
    parts.push(`<text x="${labelX}" y="${y + 15}">${escape(formatRatio(s.ratio))}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
