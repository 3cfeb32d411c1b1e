/**
 * Builds after the cold build where no module's inputs changed, vs what kbuild would redo (pahole
 * on every module, the naive full build of this round): nothing changed at all, `touch vmlinux`,
 * and vmlinux relinked with identical `.BTF` bytes. Each is the same build after an optional change.
 */
import { rename, utimes, writeFile } from 'node:fs/promises';
import type { Round } from '../round.js';
import type { Tree } from '../tree.js';
import { run } from '../run-process.js';
import type { Scenario } from '../scenario.js';

/** A btfd build after the cold build (and the naive one), once `change` has done its part. */
function afterColdBuild(name: string, title: string, change?: (round: Round, tree: Tree) => Promise<void>): Scenario {
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
      await change?.(round, tree);
      round.progress(`btfd: ${title}`);
      const { seconds, report } = await round.btfd.build(tree.dir, tree.vmlinux, round.pahole.flags);
      return { naive: [naive], btfd: [seconds], detail: { fresh: report.fresh, modules: report.modules, failed: report.failed, engineSeconds: report.seconds } };
    },
  };
}

/** The rebuild right after the cold build: shows what the stat cache's racy window still costs. */
export const rebuildFirst = afterColdBuild('rebuild-first', 'rebuild right after the cold build');
export const rebuildAgain = afterColdBuild('rebuild', 'rebuild, nothing changed');

/** `touch vmlinux`: a new stamp, the same bytes. */
export const touchVmlinux = afterColdBuild('touch-vmlinux', 'touch vmlinux', async (_round, tree) => {
  const now = new Date();
  await utimes(tree.vmlinux, now, now);
});

/** A new vmlinux file (new inode, as ld writes it) that differs in another section only. */
export const relinkSameBtf = afterColdBuild('relink-same-btf', 'vmlinux relinked, same .BTF', async (round, tree) => {
  round.progress('relinking vmlinux (another section changed)');
  const note = `${tree.vmlinux}.note`;
  await writeFile(note, `btfd bench relink ${round.index} ${Date.now()}\n`);
  await run('objcopy', ['--add-section', `.note.btfd_bench=${note}`, tree.vmlinux, `${tree.vmlinux}.new`]);
  await rename(`${tree.vmlinux}.new`, tree.vmlinux);
});
