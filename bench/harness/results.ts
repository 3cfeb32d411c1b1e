/** The JSON a run writes (`--json`), which the BENCHMARKS.md generator reads back. */
import type { Goal } from './goals.js';
import type { Unit } from './scenario.js';
import type { Spread } from './stats.js';

export interface ScenarioResult {
  readonly name: string;
  readonly title: string;
  readonly naiveLabel: string;
  readonly unit: Unit;
  readonly goal: Goal;
  readonly goalText: string;
  /** Every figure, by repetition. */
  readonly samples: { readonly naive: number[][]; readonly btfd: number[][] };
  readonly details: Record<string, number | string>[];
  readonly naive: Spread | null;
  readonly btfd: Spread | null;
  /** The median over runs of btfd ÷ naive within a run (see pairedRatios), and its spread. */
  readonly ratio: number | null;
  readonly ratioSpread: Spread | null;
  readonly met: boolean | null;
}

export interface BenchResults {
  readonly date: string;
  readonly command: string;
  readonly commit: string;
  readonly machine: {
    readonly nproc: number;
    readonly cpu: string;
    readonly memGiB: number;
    readonly loadStart: number[];
    readonly loadEnd: number[];
  };
  readonly pahole: { readonly path: string; readonly version: string; readonly flags: string };
  readonly corpus: { readonly dir: string; readonly modules: number; readonly corpusModules: number; readonly moduleBytes: number };
  readonly runs: number;
  readonly seconds: number;
  readonly scenarios: ScenarioResult[];
}
