/**
 * Every module relinked with inputs seen before (`.BTF` stripped again): btfd restores each from
 * its cache, vs kbuild's pahole on every module. Then the first no-op build after that restore.
 */
import type { Scenario } from '../scenario.js';
import { stripBtf } from '../tree.js';

export const restore: Scenario = {
  name: 'restore',
  title: 'restore every module (relinked, inputs seen before)',
  naive: 'kbuild: pahole on every module',
  unit: 's',
  goal: { kind: 'speedup', factor: 35, value: 2 },
  async run(round) {
    const tree = await round.btfdTree();
    await round.coldBuild();
    const naive = await round.naiveFull();
    round.progress('stripping .BTF from every module');
    await stripBtf(tree, round.jobs);
    round.progress('btfd: restore');
    const { seconds, report } = await round.btfd.build(tree.dir, tree.vmlinux, round.pahole.flags);
    return { naive: [naive], btfd: [seconds], detail: { restored: report.restored, modules: report.modules, failed: report.failed, engineSeconds: report.seconds } };
  },
};

export const rebuildAfterRestore: Scenario = {
  name: 'rebuild-after-restore',
  title: 'rebuild right after the restore',
  naive: 'kbuild: pahole on every module',
  unit: 's',
  goal: { kind: 'at-most', value: 0.5 },
  async run(round) {
    const tree = await round.btfdTree();
    const naive = await round.naiveFull();
    round.progress('btfd: rebuild after the restore');
    const { seconds, report } = await round.btfd.build(tree.dir, tree.vmlinux, round.pahole.flags);
    return { naive: [naive], btfd: [seconds], detail: { fresh: report.fresh, modules: report.modules, failed: report.failed, engineSeconds: report.seconds } };
  },
};
