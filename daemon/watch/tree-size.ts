/**
 * The size check before a tree is watched: chokidar takes an inotify watch and a few KB of state
 * per directory, so a tree's dir count bounds both. A tree over the limit is refused with a code
 * and a next step instead of being watched until the inotify watches or the memory run out (a
 * 200,000-dir tree once took 2.3 GB, 9,006 watcher errors and > 5 s of unresponsiveness).
 *
 * The walk stops at limit + 1 dirs, reads one dir per await (the event loop keeps serving), and
 * skips what the watcher skips: SKIPPED_DIRS, btfd's own dirs, symlinked dirs.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { BtfdError } from '../../shared/errors.js';
import { SKIPPED_DIRS } from '../tree/module-tree.js';

/** Count the dirs under `dir` (itself included) the watcher would watch, up to `max` + 1. */
export async function countWatchedDirs(dir: string, max: number, ignoredDirs: readonly string[]): Promise<number> {
  const ignored = new Set(ignoredDirs.map((d) => path.resolve(d)));
  const queue = [dir];
  let count = 0;
  while (queue.length > 0 && count <= max) {
    const current = queue.pop()!;
    count += 1;
    let entries;
    try {
      entries = await readdir(current, { withFileTypes: true });
    } catch {
      continue; // unreadable or gone: the watcher will not watch it either
    }
    for (const entry of entries) {
      if (!entry.isDirectory() || SKIPPED_DIRS.has(entry.name)) continue;
      const child = path.join(current, entry.name);
      if (!ignored.has(child)) queue.push(child);
    }
  }
  return count;
}

/** Refuse a tree with more than `max` dirs: BTFD_ERR_WATCH_TOO_LARGE. */
export async function checkWatchableSize(dir: string, max: number, ignoredDirs: readonly string[]): Promise<void> {
  const count = await countWatchedDirs(dir, max, ignoredDirs);
  if (count > max) {
    throw new BtfdError('BTFD_ERR_WATCH_TOO_LARGE', `${dir} has more than ${max} directories (BTFD_WATCH_MAX_DIRS); watching it would take an inotify watch for each`);
  }
}
