/** The terminal's summary table: one line per scenario, medians and spread. */
import { formatMet, formatRatioSpread, formatSpread } from './format.js';
import type { BenchResults } from './results.js';

export function formatSummary(r: BenchResults): string {
  const rows = [['scenario', 'naive', 'btfd', 'btfd÷naive', 'goal', 'met'],
    ...r.scenarios.map((s) => [s.name, formatSpread(s.naive, s.unit), formatSpread(s.btfd, s.unit), formatRatioSpread(s.ratioSpread), s.goalText, formatMet(s.met)])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const lines = rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  return `\n${r.corpus.modules} modules, ${r.runs} runs, medians (min–max); load ${load(r.machine.loadStart)} → ${load(r.machine.loadEnd)}\n` +
    `${lines.join('\n')}\n`;
}
