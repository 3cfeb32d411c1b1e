/**
 * Watches one tree with chokidar: its base, its `*.ko` files and `modules.order`, nothing else.
 * Events settle (no event for `settleMs`) before the tree's owner hears of them, so `make`
 * relinking hundreds of modules arrives as one change.
 *
 * At a report, a module whose file is not whole yet (write-probe.ts: a writer still at it,
 * pausing longer than the settle) is held back and looked at again after each settle, until it is
 * whole or has had no event for CUT_SHORT_QUIET_MS (a writer that stopped: the build then says
 * what is wrong with the file).
 *
 * A lone module is not reported before the settle, although its file often says early that its
 * write is done: in a tree kbuild builds, the write is ld's, and kbuild's own BTF step (pahole or
 * the drop-in, then resolve_btfids) follows at once. A watch build landing in between would hand
 * resolve_btfids an already resolved `.BTF_ids`, and resolving twice scrambles kfunc flags.
 */
import { watch, type FSWatcher } from 'chokidar';
import type { Stats } from 'node:fs';
import path from 'node:path';
import { mapLimited } from '../engine/map-limited.js';
import { SKIPPED_DIRS } from '../tree/module-tree.js';
import { isWholeModule } from './write-probe.js';

/**
 * How long a module's file may stay cut short, with no event, before it is reported anyway: a
 * writer pausing mid-file (a slow copy) is waited for; one that stopped (a truncated file) is not.
 */
const CUT_SHORT_QUIET_MS = 2_000;
/** Modules probed at once at a report (a relink of the whole tree reports thousands): bounds open files. */
const PROBES_IN_FLIGHT = 16;

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
  /** When each pending module's last event came (a module cut short is held while its writer writes). */
  const lastEventMs = new Map<string, number>();
  /** Reports in order: each waits for the one before, whose modules are probed first. */
  let reporting: Promise<void> = Promise.resolve();

  const ignored = (file: string, stats?: Stats): boolean => {
    if (file === base || file === dir) return false;
    const name = path.basename(file);
    if (ignoredDirs.some((d) => isInside(file, d))) return true;
    if (TEMP_FILE.test(name)) return true;
    if (stats?.isDirectory()) return SKIPPED_DIRS.has(name);
    if (stats?.isFile()) return !(name.endsWith('.ko') || name === 'modules.order');
    return false;
  };

  /** Report what is pending; modules whose file is not whole yet stay pending, unreported. */
  const flush = () => {
    timer = null;
    const taken = { base: pending.base, order: pending.order, modules: [...pending.modules].sort(), removed: [...pending.removed].sort() };
    pending.base = false;
    pending.order = false;
    pending.modules.clear();
    pending.removed.clear();
    reporting = reporting.then(async () => {
      const whole = await mapLimited(taken.modules, PROBES_IN_FLIGHT, isWholeModule);
      let held = false;
      const modules = taken.modules.filter((m, i) => {
        // A file cut short whose writer has gone quiet is reported: the engine says what is wrong.
        if (whole[i] || Date.now() - (lastEventMs.get(m) ?? 0) >= CUT_SHORT_QUIET_MS) {
          lastEventMs.delete(m);
          return true;
        }
        // Unless an event has brought it back (or took it away) meanwhile.
        if (!pending.removed.has(m)) pending.modules.add(m);
        held = true;
        return false;
      });
      // Look at held modules again, whether or not their writer writes again.
      if (held && timer === null && !closing) timer = setTimeout(flush, settleMs);
      if (closing || (modules.length === 0 && taken.removed.length === 0 && !taken.base && !taken.order)) return;
      options.onChange({ baseChanged: taken.base, modulesOrderChanged: taken.order, modules, removed: taken.removed });
    }).catch((err: unknown) => options.onError(err instanceof Error ? err : new Error(String(err))));
  };

  const note = (kind: 'add' | 'change' | 'unlink', file: string) => {
    health.events++;
    if (file === base) pending.base = true;
    else if (path.basename(file) === 'modules.order') pending.order = true;
    else if (file.endsWith('.ko')) {
      if (kind === 'unlink') {
        pending.removed.add(file);
        pending.modules.delete(file);
        lastEventMs.delete(file);
      } else {
        pending.modules.add(file);
        pending.removed.delete(file);
        lastEventMs.set(file, Date.now());
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
        await reporting;
      })();
      return closing;
    },
  };
}
