/**
 * Nothing changed since the last build, vs what kbuild would redo (pahole on every module, the
 * naive full build of this round). `first` is the rebuild right after the cold build: the files
 * btfd just wrote are within the stat cache's racy window, so it shows what that window costs.
 */
import type { Scenario } from '../scenario.js';

function rebuild(name: string, title: string): Scenario {
  return {
    name,
    title,
    naive: 'kbuild: pahole on every module',
    unit: 's',
    goal: { kind: 'at-most', value: 0.5 },
    async run(round) {
      const tree = await round.btfdTree();
      await round.coldBuild();
      const naive = await round.naiveFull();
      round.progress(`btfd: ${title}`);
      const { seconds, report } = await round.btfd.build(tree.dir, tree.vmlinux, round.pahole.flags);
      return { naive: [naive], btfd: [seconds], detail: { fresh: report.fresh, modules: report.modules, failed: report.failed, engineSeconds: report.seconds } };
    },
  };
}

export const rebuildFirst = rebuild('rebuild-first', 'rebuild right after the cold build');
export const rebuildAgain = rebuild('rebuild', 'rebuild, nothing changed');
