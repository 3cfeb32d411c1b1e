/** The cache's bytes on disk after the cold build, vs the sum of the modules' `.BTF` sections. */
import type { Scenario } from '../scenario.js';

export const cacheBytes: Scenario = {
  name: 'cache-bytes',
  title: 'cache on disk after the cold build',
  naive: "sum of the modules' .BTF",
  unit: 'MB',
  goal: { kind: 'none' },
  async run(round) {
    const built = await round.coldBuild();
    return { naive: [built.btfBytes / 2 ** 20], btfd: [built.cacheBytes / 2 ** 20] };
  },
};
