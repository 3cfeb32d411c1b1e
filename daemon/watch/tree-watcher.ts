/**
 * Watches one tree with chokidar: its base, its `*.ko` files and `modules.order`, nothing else.
 * Events settle (no event for `settleMs`) before the tree's owner hears of them, so a link that
 * writes a file in several steps, or `make` touching hundreds of modules, arrives as one change.
 */
import { watch, type FSWatcher } from 'chokidar';
import type { Stats } from 'node:fs';
import path from 'node:path';
import { SKIPPED_DIRS } from '../tree/module-tree.js';

/** Files written and renamed by btfd itself, pahole, or editors: never modules. */
const TEMP_FILE = /(\.tmp|\.btf|~)$/;

/** What settled since the last report. */
export interface TreeChange {
  readonly baseChanged: boolean;
  readonly modulesOrderChanged: boolean;
  /** Modules added or changed (absolute paths). */
  readonly modules: readonly string[];
  /** Modules removed. */
  readonly removed: readonly string[];
}

export interface TreeWatcherOptions {
  readonly dir: string;
  readonly base: string;
  readonly settleMs: number;
  /** Absolute dirs never to watch (btfd's own state). */
  readonly ignoredDirs: readonly string[];
  readonly onChange: (change: TreeChange) => void;
  readonly onError: (err: Error) => void;
}

export interface TreeWatcher {
  /** Resolves once chokidar has scanned the tree and is watching. */
  readonly ready: Promise<void>;
  /** Events seen and errors met, for status. */
  health(): { events: number; errors: number; ready: boolean };
  /** Stop watching; idempotent. */
  close(): Promise<void>;
}

function isInside(file: string, dir: string): boolean {
  return file === dir || file.startsWith(dir + path.sep);
}

/** Start watching a tree. */
export function createTreeWatcher(options: TreeWatcherOptions): TreeWatcher {
  const { dir, base, settleMs } = options;
  const ignoredDirs = options.ignoredDirs.map((d) => path.resolve(d));
  const pending = { base: false, order: false, modules: new Set<string>(), removed: new Set<string>() };
  const health = { events: 0, errors: 0, ready: false };
  let timer: NodeJS.Timeout | null = null;
  let closing: Promise<void> | null = null;

  const ignored = (file: string, stats?: Stats): boolean => {
    if (file === base || file === dir) return false;
    const name = path.basename(file);
    if (ignoredDirs.some((d) => isInside(file, d))) return true;
    if (TEMP_FILE.test(name)) return true;
    if (stats?.isDirectory()) return SKIPPED_DIRS.has(name);
    if (stats?.isFile()) return !(name.endsWith('.ko') || name === 'modules.order');
    return false;
  };

  const flush = () => {
    timer = null;
    const change: TreeChange = {
      baseChanged: pending.base,
      modulesOrderChanged: pending.order,
      modules: [...pending.modules].sort(),
      removed: [...pending.removed].sort(),
    };
    pending.base = false;
    pending.order = false;
    pending.modules.clear();
    pending.removed.clear();
    options.onChange(change);
  };

  const note = (kind: 'add' | 'change' | 'unlink', file: string) => {
    health.events++;
    if (file === base) pending.base = true;
    else if (path.basename(file) === 'modules.order') pending.order = true;
    else if (file.endsWith('.ko')) {
      if (kind === 'unlink') {
        pending.removed.add(file);
        pending.modules.delete(file);
      } else {
        pending.modules.add(file);
        pending.removed.delete(file);
      }
    } else return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(flush, settleMs);
  };

  // The base may live outside the tree (--base): watch it by path as well.
  const watcher: FSWatcher = watch(isInside(base, dir) ? [dir] : [dir, base], {
    ignoreInitial: true,
    followSymlinks: false,
    ignored,
  });
  watcher.on('add', (file) => note('add', file));
  watcher.on('change', (file) => note('change', file));
  watcher.on('unlink', (file) => note('unlink', file));
  watcher.on('error', (err) => {
    health.errors++;
    options.onError(err instanceof Error ? err : new Error(String(err)));
  });
  const ready = new Promise<void>((resolve) =>
    watcher.once('ready', () => {
      health.ready = true;
      resolve();
    }),
  );

  return {
    ready,
    health: () => ({ ...health }),
    close() {
      closing ??= (async () => {
        if (timer) clearTimeout(timer);
        await watcher.close();
      })();
      return closing;
    },
  };
}
