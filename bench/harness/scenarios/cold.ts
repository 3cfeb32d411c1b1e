/** Every module on an empty cache vs `xargs -P$(nproc) pahole -J` with the same flags. */
import type { Scenario } from '../scenario.js';

export const cold: Scenario = {
  name: 'cold',
  title: 'cold build, empty cache',
  naive: 'xargs -P$(nproc) pahole -J, every module',
  unit: 's',
  goal: { kind: 'ratio', ratio: 0.9 },
  async run(round) {
    const [naive, built] = await round.interleave(() => round.naiveFull(), () => round.coldBuild());
    return { naive: [naive], btfd: [built.seconds], detail: { regenerated: built.report.regenerated, modules: built.report.modules, failed: built.report.failed, engineSeconds: built.report.seconds } };
  },
};
