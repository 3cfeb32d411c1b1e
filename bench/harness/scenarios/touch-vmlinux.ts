/** `touch vmlinux`: a new stamp, the same bytes; kbuild would run pahole on every module. */
import { utimes } from 'node:fs/promises';
import type { Scenario } from '../scenario.js';

export const touchVmlinux: Scenario = {
  name: 'touch-vmlinux',
  title: 'touch vmlinux',
  naive: 'kbuild: pahole on every module',
  unit: 's',
  goal: { kind: 'at-most', value: 0.5 },
  async run(round) {
    const tree = await round.btfdTree();
    await round.coldBuild();
    const naive = await round.naiveFull();
    const now = new Date();
    await utimes(tree.vmlinux, now, now);
    round.progress('btfd: build after touch vmlinux');
    const { seconds, report } = await round.btfd.build(tree.dir, tree.vmlinux, round.pahole.flags);
    return { naive: [naive], btfd: [seconds], detail: { fresh: report.fresh, modules: report.modules, failed: report.failed, engineSeconds: report.seconds } };
  },
};
