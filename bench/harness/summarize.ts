/** A scenario's figures → medians, spread, the paired ratio and whether the goal is met. */
import { describeGoal, meets, type Goal } from './goals.js';
import type { ScenarioResult } from './results.js';
import type { Unit } from './scenario.js';
import { median, pairedRatios, spreadOf } from './stats.js';

export interface ScenarioFigures {
  readonly name: string;
  readonly title: string;
  readonly naiveLabel: string;
  readonly unit: Unit;
  readonly goal: Goal;
  readonly samples: { readonly naive: number[][]; readonly btfd: number[][] };
  readonly details: Record<string, number | string>[];
}

export function summarize(f: ScenarioFigures): ScenarioResult {
  const naive = spreadOf(f.samples.naive.flat());
  const btfd = spreadOf(f.samples.btfd.flat());
  const ratios = pairedRatios(f.samples.naive, f.samples.btfd);
  const ratio = ratios.length > 0 ? median(ratios) : null;
  return {
    name: f.name, title: f.title, naiveLabel: f.naiveLabel, unit: f.unit, goal: f.goal, goalText: describeGoal(f.goal, f.unit),
    samples: f.samples, details: f.details, naive, btfd, ratio, ratioSpread: spreadOf(ratios),
    met: btfd ? meets(f.goal, { naive: naive?.median ?? null, btfd: btfd.median, ratio }) : null,
  };
}
