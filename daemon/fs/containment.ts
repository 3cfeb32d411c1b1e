/**
 * The one rule for every file btfd writes outside its own home (modules, the drop-in's detached
 * output): see docs/trust.md.
 *
 *   A write target is a regular file (not a symlink, FIFO, device or directory), or a new name in
 *   an existing directory, that lies inside the tree the user registered or named in this request
 *   once every symlink on the way is resolved; an existing file must be the daemon user's and
 *   owner-writable (root may write any, and keeps the owner).
 *
 * The check answers with the resolved path, and callers write to that path, so a symlinked dir
 * swapped in after the check cannot redirect the write through the name that was checked.
 */
import { lstatSync, type Stats } from 'node:fs';
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { BtfdError } from '../../shared/errors.js';
import { describeFileType } from './open-regular.js';

/** What a write target is: a module rewritten in place, or an output that may be new. */
export type WriteTargetKind = 'module' | 'output';

/** The checked target: its resolved path, and its stat when it exists. */
export interface CheckedTarget {
  readonly path: string;
  readonly stats: Stats | null;
}

/** True when `inner` is `outer` or lies under it (both absolute and resolved). */
export function isInside(outer: string, inner: string): boolean {
  const relative = path.relative(outer, inner);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

function errnoOf(err: unknown): unknown {
  return (err as { code?: unknown } | null)?.code;
}

/** The daemon's effective uid (null where there is none, which is not Linux); it never changes. */
const DAEMON_UID: number | null = typeof process.geteuid === 'function' ? process.geteuid() : null;

/**
 * A tree's real path, resolved once for a whole build: its targets are then checked against the
 * tree as it was when the build began (a tree swapped for another during the build is refused,
 * not followed).
 */
export interface ResolvedTree {
  readonly real: string;
}

export async function resolveTree(tree: string): Promise<ResolvedTree> {
  const real = await realpath(tree).catch((err: unknown) => {
    throw new BtfdError('BTFD_ERR_TREE_NOT_FOUND', `${tree} does not exist`, { cause: err });
  });
  return { real };
}

/**
 * Check that btfd may write `file` for a request whose tree is `tree` (a path, or resolved once
 * for a build).
 * @returns the target's resolved path (write there) and its stat (null for a new output file)
 * @throws BtfdError BTFD_ERR_FILE_OUTSIDE_TREE, BTFD_ERR_FILE_SYMLINK, BTFD_ERR_FILE_NOT_REGULAR,
 *   BTFD_ERR_FILE_READ_ONLY; BTFD_ERR_MODULE_NOT_FOUND (a module) or BTFD_ERR_FILE_DIR_MISSING
 *   (an output) when it or its directory does not exist; BTFD_ERR_TREE_NOT_FOUND for the tree
 */
export async function checkWriteTarget(
  file: string, tree: string | ResolvedTree, kind: WriteTargetKind, uid: number | null = DAEMON_UID,
): Promise<CheckedTarget> {
  const absolute = path.resolve(file);
  const realTree = typeof tree === 'string' ? (await resolveTree(tree)).real : tree.real;
  const realDir = await realpath(path.dirname(absolute)).catch((err: unknown) => {
    if (kind === 'module') throw new BtfdError('BTFD_ERR_MODULE_NOT_FOUND', `${absolute} does not exist`, { cause: err });
    throw new BtfdError('BTFD_ERR_FILE_DIR_MISSING', `the directory of ${absolute} does not exist`, { cause: err });
  });
  const resolved = path.join(realDir, path.basename(absolute));
  if (!isInside(realTree, resolved)) {
    const via = resolved === absolute ? '' : ` (it resolves to ${resolved})`;
    throw new BtfdError('BTFD_ERR_FILE_OUTSIDE_TREE', `refusing to write ${absolute}: it is outside ${kind === 'module' ? 'the tree' : 'the module\'s build tree'} ${realTree}${via}`);
  }
  return checkExisting(absolute, resolved, kind, uid);
}

/**
 * checkWriteTarget for a module the tree walk found (findModules never follows a symlinked
 * directory, so its directory lies in the tree): only the file itself is looked at.
 */
export async function checkFoundModule(file: string, uid: number | null = DAEMON_UID): Promise<CheckedTarget> {
  return checkExisting(file, file, 'module', uid);
}

/** The file part of the rule, for `resolved` (the real path of `absolute`'s directory, joined). */
async function checkExisting(absolute: string, resolved: string, kind: WriteTargetKind, uid: number | null): Promise<CheckedTarget> {
  // lstat without the threadpool: microseconds on a local disk, where a round trip through
  // libuv's pool costs ~0.1 ms under load, and a no-op build looks at every module this way.
  let stats: Stats | null;
  try {
    stats = lstatSync(resolved);
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') throw err;
    if (kind === 'module') throw new BtfdError('BTFD_ERR_MODULE_NOT_FOUND', `${absolute} does not exist`, { cause: err });
    stats = null;
  }
  if (stats === null) return { path: resolved, stats };
  if (stats.isSymbolicLink()) throw new BtfdError('BTFD_ERR_FILE_SYMLINK', `refusing to write ${absolute}: it is a symlink`);
  if (!stats.isFile()) throw new BtfdError('BTFD_ERR_FILE_NOT_REGULAR', `refusing to use ${absolute}: it is ${describeFileType(stats)}, not a regular file`);
  // Write-protection is the user's explicit "leave it", even to root.
  if ((stats.mode & 0o200) === 0) throw new BtfdError('BTFD_ERR_FILE_READ_ONLY', `refusing to replace ${absolute}: it is write-protected (mode ${(stats.mode & 0o7777).toString(8).padStart(4, '0')})`);
  // Another user's file would become ours on rename; root's atomic writer keeps the owner instead.
  if (uid !== null && uid !== 0 && stats.uid !== uid) {
    throw new BtfdError('BTFD_ERR_FILE_READ_ONLY', `refusing to replace ${absolute}: it belongs to uid ${stats.uid}, not to the daemon's user (uid ${uid})`);
  }
  return { path: resolved, stats };
}
