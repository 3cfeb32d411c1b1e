/**
 * Kernel trees for one measurement: the first N modules of the corpus (sorted paths, so the same
 * N always picks the same modules) and its vmlinux, copied to a scratch dir with every module's
 * `.BTF` removed, as a fresh link leaves them.
 */
import { chmod, copyFile, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { q, sh } from './run-process.js';

export interface Tree {
  readonly dir: string;
  readonly vmlinux: string;
  /** Absolute paths of the modules, in corpus order. */
  readonly modules: readonly string[];
  /** A file listing the modules, one a line, for `xargs -a`. */
  readonly list: string;
}

/** Relative paths of the corpus's first `count` modules (every module when count is undefined). */
export async function pickModules(corpus: string, count: number | undefined): Promise<string[]> {
  const entries = await readdir(corpus, { recursive: true, withFileTypes: true });
  const all = entries
    .filter((e) => e.isFile() && e.name.endsWith('.ko'))
    .map((e) => path.relative(corpus, path.join(e.parentPath, e.name)))
    .sort();
  return count === undefined ? all : all.slice(0, count);
}

/** A fresh copy of the corpus subset under `dir`, `.BTF` stripped (objcopy, in parallel). */
export async function copyTree(corpus: string, relative: readonly string[], dir: string, jobs: number): Promise<Tree> {
  await rm(dir, { recursive: true, force: true });
  const modules = relative.map((r) => path.join(dir, r));
  for (const [i, r] of relative.entries()) {
    await mkdir(path.dirname(modules[i]!), { recursive: true });
    await copyFile(path.join(corpus, r), modules[i]!);
    await chmod(modules[i]!, 0o644);
  }
  const vmlinux = path.join(dir, 'vmlinux');
  await copyFile(path.join(corpus, 'vmlinux'), vmlinux);
  await chmod(vmlinux, 0o644);
  const list = path.join(dir, 'modules.list');
  await writeFile(list, modules.join('\n') + '\n');
  const tree = { dir, vmlinux, modules, list };
  await stripBtf(tree, jobs);
  return tree;
}

/** Remove `.BTF` from every module of the tree: what relinking every module leaves. */
export async function stripBtf(tree: Tree, jobs: number): Promise<void> {
  await sh(`xargs -a ${q(tree.list)} -P${jobs} -n16 sh -c 'for f; do objcopy --remove-section .BTF "$f"; done' sh`);
}
