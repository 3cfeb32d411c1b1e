/** Issue 12's goals, as data, and whether a pair of medians meets one. */

export type Goal =
  /** btfd ≤ ratio × naive */
  | { readonly kind: 'ratio'; readonly ratio: number }
  /** btfd ≤ value (in the scenario's unit) */
  | { readonly kind: 'at-most'; readonly value: number }
  /** naive / btfd ≥ factor, and btfd ≤ value when given */
  | { readonly kind: 'speedup'; readonly factor: number; readonly value?: number }
  /** btfd ≤ naive + value */
  | { readonly kind: 'overhead'; readonly value: number }
  | { readonly kind: 'none' };

export function describeGoal(goal: Goal, unit: string): string {
  switch (goal.kind) {
    case 'ratio': return `≤ ${goal.ratio} × naive`;
    case 'at-most': return `≤ ${goal.value} ${unit}`;
    case 'speedup': return `≥ ${goal.factor}× faster${goal.value !== undefined ? ` and ≤ ${goal.value} ${unit}` : ''}`;
    case 'overhead': return `≤ naive + ${goal.value} ${unit}`;
    case 'none': return '—';
  }
}

/** The medians a goal is judged on; `ratio` is the median of the per-run btfd ÷ naive. */
export interface Judged {
  readonly naive: number | null;
  readonly btfd: number;
  readonly ratio: number | null;
}

/** null when the goal has no bar or a figure is missing. */
export function meets(goal: Goal, m: Judged): boolean | null {
  switch (goal.kind) {
    case 'ratio': return m.ratio === null ? null : m.ratio <= goal.ratio;
    case 'at-most': return m.btfd <= goal.value;
    case 'speedup': return m.ratio === null ? null : 1 / m.ratio >= goal.factor && (goal.value === undefined || m.btfd <= goal.value);
    case 'overhead': return m.naive === null ? null : m.btfd <= m.naive + goal.value;
    case 'none': return null;
  }
}
