/** Medians and spread of repeated samples: the only summary the harness quotes. */

export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function spreadOf(xs: readonly number[]): Spread | null {
  if (xs.length === 0) return null;
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length };
}

/**
 * btfd ÷ naive for each run that has both sides (each side's median within the run): naive and
 * btfd of one run ran back to back under the same load, so their ratio is steadier than a ratio
 * of medians taken across runs.
 */
export function pairedRatios(naive: readonly (readonly number[])[], btfd: readonly (readonly number[])[]): number[] {
  return btfd.flatMap((b, i) => {
    const n = naive[i];
    return n && n.length > 0 && b.length > 0 ? [median(b) / median(n)] : [];
  });
}
