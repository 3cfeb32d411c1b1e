/**
 * One module changed while the daemon watches the tree: from the write (a relinked module, new
 * content) until its `.BTF` is installed, vs kbuild's pahole on that module. The module is the
 * median-sized one of the set, so the figure is neither pahole's best nor its worst case.
 */
import { copyFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { readSections } from '../../../daemon/elf/elf-file.js';
import { naiveModule } from '../naive.js';
import { run } from '../run-process.js';
import type { Round } from '../round.js';
import type { Scenario } from '../scenario.js';
import type { Tree } from '../tree.js';

const WRITES_PER_ROUND = 2;
const INSTALL_TIMEOUT_MS = 5 * 60_000;

async function medianSized(modules: readonly string[]): Promise<string> {
  const sized = await Promise.all(modules.map(async (m) => ({ m, size: (await stat(m)).size })));
  sized.sort((a, b) => a.size - b.size || a.m.localeCompare(b.m));
  return sized[Math.floor(sized.length / 2)]!.m;
}

/** A copy of `module` as a relink with new content leaves it: no `.BTF`, one section changed. */
async function relinked(round: Round, tree: Tree, module: string, tag: string): Promise<string> {
  const source = path.join(round.corpus, path.relative(tree.dir, module));
  const out = path.join(path.dirname(round.btfd.home), `relinked-${tag}.ko`);
  const note = `${out}.note`;
  await writeFile(note, `btfd bench ${tag} ${Date.now()}\n`);
  await run('objcopy', ['--remove-section', '.BTF', '--add-section', `.note.btfd_bench=${note}`, source, out]);
  return out;
}

async function hasBtf(file: string): Promise<boolean> {
  try {
    return (await readSections(file, ['.BTF'])).has('.BTF');
  } catch {
    return false; // mid-write
  }
}

export const watchOne: Scenario = {
  name: 'watch-one',
  title: 'one module changed, watch mode (write → BTF installed)',
  naive: 'pahole -J on that module',
  unit: 'ms',
  goal: { kind: 'overhead', value: 50 },
  async run(round) {
    const tree = await round.btfdTree();
    await round.watching();
    const module = await medianSized(tree.modules);
    const scratch = path.join(path.dirname(round.btfd.home), 'naive-one.ko');
    const naive: number[] = [];
    const btfd: number[] = [];
    for (let i = 0; i < WRITES_PER_ROUND; i++) {
      const variant = await relinked(round, tree, module, `r${round.index}-${i}`);
      await copyFile(variant, scratch);
      const [n, b] = await round.interleave(
        async () => (round.progress(`naive: pahole on ${path.basename(module)}`), naiveModule(scratch, round.pahole, tree.vmlinux)),
        async () => {
          round.progress(`btfd: watch, ${path.basename(module)} written`);
          const t0 = performance.now();
          const since = Date.now();
          await copyFile(variant, module);
          while (!(await hasBtf(module))) {
            if (performance.now() - t0 > INSTALL_TIMEOUT_MS) throw new Error(`${module}: no .BTF installed`);
            await new Promise((r) => setTimeout(r, 5));
          }
          const seconds = (performance.now() - t0) / 1000;
          await round.btfd.waitSettled(tree.dir, since, INSTALL_TIMEOUT_MS);
          return seconds;
        },
      );
      naive.push(n * 1000);
      btfd.push(b * 1000);
    }
    return { naive, btfd, detail: { module: path.relative(tree.dir, module), bytes: (await stat(module)).size } };
  },
};
