/** How figures are written, the same in the terminal summary and in BENCHMARKS.md. */
import type { Unit } from './scenario.js';
import type { Spread } from './stats.js';

export function formatValue(v: number, unit: Unit): string {
  const digits = unit === 's' ? (v < 10 ? 2 : 1) : unit === 'ms' ? (v < 100 ? 1 : 0) : v < 10 ? 2 : 1;
  return `${v.toFixed(digits)} ${unit}`;
}

/** "1.23 s (1.10–1.40)"; the range only when there is more than one figure. */
export function formatSpread(s: Spread | null, unit: Unit): string {
  if (!s) return '—';
  const range = s.n > 1 ? ` (${formatValue(s.min, unit).split(' ')[0]}–${formatValue(s.max, unit)})` : '';
  return range ? `${formatValue(s.median, unit).split(' ')[0]}${range}` : formatValue(s.median, unit);
}

/** btfd ÷ naive: "0.85", or "1/140" when btfd is more than twice as fast. */
export function formatRatio(ratio: number | null): string {
  if (ratio === null) return '—';
  return ratio < 0.5 ? `1/${(1 / ratio).toFixed(1 / ratio < 10 ? 1 : 0)}` : ratio.toFixed(2);
}

export function formatMet(met: boolean | null): string {
  return met === null ? '—' : met ? 'yes' : 'NO';
}

/** The paired ratio's median and, over several runs, its range: "0.83 (0.53–1.09)". */
export function formatRatioSpread(s: Spread | null): string {
  if (!s) return '—';
  return s.n > 1 ? `${formatRatio(s.median)} (${formatRatio(s.min)}–${formatRatio(s.max)})` : formatRatio(s.median);
}
