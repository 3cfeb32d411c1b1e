/**
 * The one table of what can happen to a module. The engine's plans, the outcomes in build
 * reports, the counters of a report and of the `planned` event, their TypeBox schemas, the
 * progress bar and the summary line all derive from it: adding an action is a row here and its
 * step in daemon/engine/steps/.
 *
 * Order matters: it is the order counts are shown in, cheapest first.
 */

/** Each action the planner can choose, with the outcome a module has once it was carried out. */
const ACTIONS = {
  /** The module already holds the cached artifact for its key: nothing is written. */
  fresh: { outcome: 'fresh' },
  /** The key is cached: its artifact is installed, in process. */
  restore: { outcome: 'restored' },
  /**
   * The key is new but this module's artifact on another base is cached: rewritten onto the new
   * base in process when that is exactly what pahole would write, else regenerated.
   */
  relocate: { outcome: 'relocated' },
  /** The key is new: pahole encodes the module, then the artifact is stored and installed. */
  regenerate: { outcome: 'regenerated' },
} as const;

export type ModuleAction = keyof typeof ACTIONS;
/** What happened to a module in a build: its action's outcome, or `failed`. */
export type ModuleOutcome = (typeof ACTIONS)[ModuleAction]['outcome'] | 'failed';

export const MODULE_ACTIONS = Object.keys(ACTIONS) as ModuleAction[];
export const MODULE_OUTCOMES: readonly ModuleOutcome[] = [...MODULE_ACTIONS.map((a) => ACTIONS[a].outcome), 'failed'];

/** The outcome of carrying out an action. */
export function outcomeOf(action: ModuleAction): ModuleOutcome {
  return ACTIONS[action].outcome;
}

/** Counts per outcome, as a build report carries them (`fresh`, `restored`, …, `failed`). */
export type OutcomeCounts = { readonly [O in ModuleOutcome]: number };
/** Counts per planned action, as the `planned` event carries them. */
export type ActionCounts = { readonly [A in ModuleAction]: number };

/** Count items by a key, with every name of the table present (0 when absent). */
export function countBy<K extends string>(names: readonly K[], keys: Iterable<K>): { [P in K]: number } {
  const counts = Object.fromEntries(names.map((name) => [name, 0])) as { [P in K]: number };
  for (const key of keys) counts[key]++;
  return counts;
}

/** "3 fresh, 1 restored, 0 regenerated, 0 failed": the counts in table order. */
export function describeCounts(counts: OutcomeCounts): string {
  return MODULE_OUTCOMES.map((outcome) => `${counts[outcome]} ${outcome}`).join(', ');
}
