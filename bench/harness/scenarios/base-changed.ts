/**
 * The base's BTF changed (two functions added; a raw BTF base the harness writes, as
 * bench/relocate-corpus.ts does): btfd relocates its cached BTF where it can show the bytes equal
 * pahole's, else regenerates; the naive way runs pahole on every module on the new base.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseBtf } from '../../../daemon/btf/btf-reader.js';
import { readSections } from '../../../daemon/elf/elf-file.js';
import { insertFunctions } from '../../../test/helpers/btf-edit.js';
import { naiveBuild } from '../naive.js';
import type { Scenario } from '../scenario.js';
import { stripBtf } from '../tree.js';

export const baseChanged: Scenario = {
  name: 'base-changed',
  title: 'base BTF changed (functions added)',
  naive: 'pahole on every module, new base',
  unit: 's',
  goal: { kind: 'none' },
  async run(round) {
    const tree = await round.btfdTree();
    await round.coldBuild();
    const naiveTree = await round.naiveTree();
    round.progress('writing a new base (functions added)');
    const btf = (await readSections(tree.vmlinux, ['.BTF'])).get('.BTF');
    if (!btf) throw new Error(`${tree.vmlinux} has no .BTF`);
    const base = path.join(path.dirname(tree.dir), 'added.btf');
    await writeFile(base, insertFunctions(parseBtf(btf), [`btfd_bench_r${round.index}_a`, `btfd_bench_r${round.index}_b`]));
    await stripBtf(naiveTree, round.jobs);
    const [naive, built] = await round.interleave(
      () => (round.progress('naive: pahole on every module, new base'), naiveBuild(naiveTree, round.pahole, base, round.jobs)),
      () => (round.progress('btfd: build on the new base'), round.btfd.build(tree.dir, base, round.pahole.flags)),
    );
    const r = built.report;
    return { naive: [naive], btfd: [built.seconds], detail: { relocated: r.relocated, regenerated: r.regenerated, restored: r.restored, modules: r.modules, failed: r.failed, engineSeconds: r.seconds } };
  },
};
