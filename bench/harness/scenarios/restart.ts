/**
 * Daemon restart on a watched tree, until its first pass finds every module fresh: with the stat
 * cache intact (the stat fast path), and with every file's ctime changed so no stamp matches (a
 * full rehash, as after a stat cache is dropped). The floor for both is `sha256sum` over the
 * bytes btfd must read: every module, and vmlinux's `.BTF` (btfd keys on that section, not on
 * the whole 500 MB vmlinux); page cache warm for both.
 */
import { stat, utimes, writeFile } from 'node:fs/promises';
import { readSections } from '../../../daemon/elf/elf-file.js';
import { q, sh } from '../run-process.js';
import type { Round } from '../round.js';
import type { Scenario } from '../scenario.js';

async function sha256Floor(round: Round): Promise<number> {
  const tree = await round.btfdTree();
  const baseBtf = `${tree.vmlinux}.btf`;
  const btf = (await readSections(tree.vmlinux, ['.BTF'])).get('.BTF');
  if (!btf) throw new Error(`${tree.vmlinux} has no .BTF`);
  await writeFile(baseBtf, btf);
  round.progress('naive: sha256sum over the modules and vmlinux .BTF');
  return (await sh(`{ cat ${q(tree.list)}; echo ${q(baseBtf)}; } | xargs sha256sum > /dev/null`)).seconds;
}

async function restartUntilFresh(round: Round): Promise<{ seconds: number; detail: Record<string, number> }> {
  const tree = await round.btfdTree();
  round.progress('btfd: restart until every module is fresh');
  const since = Date.now();
  const t0 = performance.now();
  await round.btfd.start();
  const status = await round.btfd.waitSettled(tree.dir, since, 30 * 60_000);
  const seconds = (performance.now() - t0) / 1000;
  const pass = status.trees.find((t) => t.dir === tree.dir)!.lastPass!;
  return { seconds, detail: { fresh: pass.fresh, modules: pass.modules, reconcileMs: status.reconcileMs ?? -1 } };
}

export const restart: Scenario = {
  name: 'restart',
  title: 'daemon restart, nothing changed',
  naive: 'sha256sum, modules + vmlinux .BTF',
  unit: 's',
  goal: { kind: 'at-most', value: 0.5 },
  async run(round) {
    await round.watching();
    await round.btfd.stop();
    const [naive, b] = await round.interleave(() => sha256Floor(round), () => restartUntilFresh(round));
    return { naive: [naive], btfd: [b.seconds], detail: b.detail };
  },
};

export const rehash: Scenario = {
  name: 'rehash',
  title: 'daemon restart, stat cache invalid (full rehash)',
  naive: 'sha256sum, modules + vmlinux .BTF',
  unit: 's',
  goal: { kind: 'ratio', ratio: 1.5 },
  async run(round) {
    const tree = await round.btfdTree();
    await round.watching();
    await round.btfd.stop();
    round.progress('changing every file’s ctime');
    for (const file of [...tree.modules, tree.vmlinux]) {
      const info = await stat(file);
      await utimes(file, info.atime, info.mtime);
    }
    const [naive, b] = await round.interleave(() => sha256Floor(round), () => restartUntilFresh(round));
    return { naive: [naive], btfd: [b.seconds], detail: b.detail };
  },
};
