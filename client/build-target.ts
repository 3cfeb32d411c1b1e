/**
 * What `btfd build [DIR | MODULE.ko…]` builds: a whole tree, or the named modules of one tree
 * (the nearest dir above them with a vmlinux, as kbuild lays them out; else their own dir).
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { BtfdError } from '../shared/errors.js';
import { findTreeOf } from '../shared/tree-root.js';

/** A build's tree and, when only some of its modules were named, those modules. */
export interface BuildTarget {
  readonly dir: string;
  readonly modules?: readonly string[];
}

/**
 * Resolve the command line's targets (relative to `cwd`).
 * @throws BtfdError BTFD_ERR_USAGE for a mix of dirs and modules, or modules of several trees
 */
export async function resolveBuildTarget(targets: readonly string[], cwd: string): Promise<BuildTarget> {
  const paths = (targets.length === 0 ? ['.'] : targets).map((target) => path.resolve(cwd, target));
  const modules = paths.filter((p) => p.endsWith('.ko'));
  if (modules.length === 0) {
    if (paths.length > 1) throw new BtfdError('BTFD_ERR_USAGE', `build takes one dir, or one or more .ko files; got ${paths.length} dirs`);
    return { dir: paths[0]! };
  }
  if (modules.length !== paths.length) throw new BtfdError('BTFD_ERR_USAGE', 'build takes one dir, or .ko files, not both');
  for (const module of modules) {
    const info = await stat(module).catch(() => null);
    if (!info?.isFile()) throw new BtfdError('BTFD_ERR_MODULE_NOT_FOUND', `${module} is not a file`);
  }
  const dir = await findTreeOf(modules[0]!);
  const outside = modules.find((module) => !module.startsWith(dir + path.sep));
  if (outside !== undefined) throw new BtfdError('BTFD_ERR_USAGE', `${outside} is not in ${dir}, the tree of ${modules[0]}: build one tree at a time`);
  return { dir, modules };
}
