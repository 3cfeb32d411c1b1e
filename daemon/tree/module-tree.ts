/**
 * A tree of modules: a kernel build dir, or any dir with a base and `.ko` files. The engine builds
 * trees and the watcher watches them; both take their layout from here.
 */
import { lstat, readdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { BtfdError } from '../../shared/errors.js';
import { isAtomicTempFile } from '../fs/atomic-file.js';

export { findTreeOf } from '../../shared/tree-root.js';

/** Age after which such a temp file surely belongs to no running write. */
const STALE_TEMP_FILE_MS = 10 * 60 * 1000;
/** Directories that never hold modules of the tree (the watcher skips them too). */
export const SKIPPED_DIRS: ReadonlySet<string> = new Set(['.git', 'node_modules', '.tmp_versions']);

/** Check the tree exists and is a directory; return its absolute path. */
export async function resolveTreeDir(dir: string): Promise<string> {
  const absolute = path.resolve(dir);
  const info = await stat(absolute).catch((err: unknown) => {
    throw new BtfdError('BTFD_ERR_TREE_NOT_FOUND', `${absolute} does not exist`, { cause: err });
  });
  if (!info.isDirectory()) throw new BtfdError('BTFD_ERR_TREE_NOT_FOUND', `${absolute} is not a directory`);
  return absolute;
}

/**
 * Every `.ko` under dir (absolute, sorted), not following symlinked dirs. Removes stale temp files
 * of interrupted btfd writes on the way, since the walk visits every directory anyway.
 */
export async function findModules(dir: string, nowMs: number = Date.now()): Promise<string[]> {
  const modules: string[] = [];
  const pending = [dir];
  while (pending.length > 0) {
    const current = pending.pop()!;
    const entries = await readdir(current, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) {
        if (!SKIPPED_DIRS.has(entry.name)) pending.push(full);
      } else if (entry.isFile() && entry.name.endsWith('.ko')) {
        modules.push(full);
      } else if (entry.isFile() && isAtomicTempFile(entry.name)) {
        await removeIfStale(full, nowMs);
      }
    }
  }
  return modules.sort();
}

async function removeIfStale(file: string, nowMs: number): Promise<void> {
  const info = await lstat(file).catch(() => null);
  if (info && nowMs - info.mtimeMs > STALE_TEMP_FILE_MS) await unlink(file).catch(() => undefined);
}

/** The base a tree uses unless told otherwise: `DIR/vmlinux`. */
export function defaultBase(dir: string): string {
  return path.join(dir, 'vmlinux');
}
