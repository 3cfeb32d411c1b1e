/** What every scenario file exports, and what one repetition of it returns. */
import type { Goal } from './goals.js';
import type { Round } from './round.js';

export type Unit = 's' | 'ms' | 'MB';

export interface Scenario {
  /** The name `--scenarios` selects it by. */
  readonly name: string;
  readonly title: string;
  /** What the naive side is, in a few words. */
  readonly naive: string;
  readonly unit: Unit;
  readonly goal: Goal;
  /** One repetition: the naive and btfd figures measured now, in `unit`. */
  run(round: Round): Promise<Sample>;
}

export interface Sample {
  readonly naive: readonly number[];
  readonly btfd: readonly number[];
  /** Counts that show the figure is what it claims (modules restored, fresh…). */
  readonly detail?: Readonly<Record<string, number | string>>;
}
