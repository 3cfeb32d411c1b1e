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

/** null when the goal has no bar or a median is missing. */
export function meets(goal: Goal, naive: number | null, btfd: number): boolean | null {
  switch (goal.kind) {
    case 'ratio': return naive === null ? null : btfd <= goal.ratio * naive;
    case 'at-most': return btfd <= goal.value;
    case 'speedup': return naive === null ? null : naive / btfd >= goal.factor && (goal.value === undefined || btfd <= goal.value);
    case 'overhead': return naive === null ? null : btfd <= naive + goal.value;
    case 'none': return null;
  }
}
