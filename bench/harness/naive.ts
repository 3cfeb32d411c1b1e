/** The naive way kbuild encodes module BTF: one pahole per module, `xargs -P$(nproc)`. */
import { q, run, sh } from './run-process.js';
import type { Tree } from './tree.js';

export interface Pahole {
  readonly path: string;
  readonly flags: string;
}

/** kbuild's command for every module of the tree, on `base`; returns the wall seconds. */
export async function naiveBuild(tree: Tree, pahole: Pahole, base: string, jobs: number): Promise<number> {
  const cmd = `${q(pahole.path)} -J ${pahole.flags} --btf_base ${q(base)}`;
  // pahole 1.24 adds the section with $LLVM_OBJCOPY, as kbuild sets it.
  const { seconds } = await sh(`xargs -a ${q(tree.list)} -P${jobs} -n1 ${cmd}`, { env: { ...process.env, LLVM_OBJCOPY: 'objcopy' } });
  return seconds;
}

/** kbuild's command for one module; returns the wall seconds. */
export async function naiveModule(module: string, pahole: Pahole, base: string): Promise<number> {
  const { seconds } = await run(pahole.path, ['-J', ...pahole.flags.split(/\s+/).filter(Boolean), '--btf_base', base, module], {
    env: { ...process.env, LLVM_OBJCOPY: 'objcopy' },
  });
  return seconds;
}
