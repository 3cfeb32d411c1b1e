/** A goal as a bound on btfd ÷ naive, for drawing it next to the measured ratio. */
import type { ScenarioResult } from './results.js';

export function goalRatio(s: ScenarioResult): number | null {
  const naive = s.naive?.median;
  switch (s.goal.kind) {
    case 'ratio': return s.goal.ratio;
    case 'speedup': return 1 / s.goal.factor;
    case 'at-most': return naive ? s.goal.value / naive : null;
    case 'overhead': return naive ? (naive + s.goal.value) / naive : null;
    case 'none': return null;
  }
}
