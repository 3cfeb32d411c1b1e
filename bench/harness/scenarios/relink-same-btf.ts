/**
 * vmlinux relinked with identical `.BTF` bytes: a new file (new inode, as ld writes it) that
 * differs in another section. kbuild would run pahole on every module.
 */
import { rename, writeFile } from 'node:fs/promises';
import type { Scenario } from '../scenario.js';
import { run } from '../run-process.js';

export const relinkSameBtf: Scenario = {
  name: 'relink-same-btf',
  title: 'vmlinux relinked, same .BTF',
  naive: 'kbuild: pahole on every module',
  unit: 's',
  goal: { kind: 'at-most', value: 0.5 },
  async run(round) {
    const tree = await round.btfdTree();
    await round.coldBuild();
    const naive = await round.naiveFull();
    round.progress('relinking vmlinux (another section changed)');
    const note = `${tree.vmlinux}.note`;
    await writeFile(note, `btfd bench relink ${round.index} ${Date.now()}\n`);
    await run('objcopy', ['--add-section', `.note.btfd_bench=${note}`, tree.vmlinux, `${tree.vmlinux}.new`]);
    await rename(`${tree.vmlinux}.new`, tree.vmlinux);
    round.progress('btfd: build after the relink');
    const { seconds, report } = await round.btfd.build(tree.dir, tree.vmlinux, round.pahole.flags);
    return { naive: [naive], btfd: [seconds], detail: { fresh: report.fresh, modules: report.modules, failed: report.failed, engineSeconds: report.seconds } };
  },
};
