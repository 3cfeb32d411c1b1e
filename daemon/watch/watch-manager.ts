/**
 * Keeps every watched tree's modules current: one chokidar watcher per registered tree, builds
 * that run one at a time per tree (changes arriving meanwhile are coalesced into the next one),
 * and a periodic stat rescan that catches whatever the watcher missed.
 *
 * What triggers work: a module added or changed by someone other than btfd; the base, but only
 * when its `.BTF` bytes changed (a relink or a `touch` is compared and dropped); `modules.order`
 * (kbuild rewrote its module list: one pass over the tree, cheap through the stat cache); the
 * rescan. A module deleted from the tree is forgotten.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { BuildEvent, BuildReport, BuildSummary, TreeBuild, TreeStatus } from '../../shared/build-types.js';
import { BtfdError, toBtfdError, type ErrorCode } from '../../shared/errors.js';
import type { Engine } from '../engine/engine.js';
import type { TreeRegistration, TreeRegistry } from '../store/tree-registry.js';
import { defaultBase, resolveTreeDir } from '../tree/module-tree.js';
import { checkWatchableSize } from './tree-size.js';
import { createTreeWatcher, type TreeChange, type TreeWatcher } from './tree-watcher.js';

/** Events the manager publishes (the daemon forwards them to `/v1/events`). */
export type WatchEvent =
  | { readonly type: 'tree-added' | 'tree-removed'; readonly dir: string }
  /** The tree's dir was deleted while watched; it stays registered until unwatched. */
  | { readonly type: 'tree-missing'; readonly dir: string }
  | { readonly type: 'base-changed'; readonly dir: string; readonly digest: string }
  /** A settled burst of file events was looked at; `work` says whether it asked for a build. */
  | { readonly type: 'change-seen'; readonly dir: string; readonly files: number; readonly work: boolean }
  | { readonly type: 'build-started'; readonly dir: string; readonly trigger: string; readonly modules: number | 'all' }
  | { readonly type: 'build-progress'; readonly dir: string; readonly event: BuildEvent }
  | { readonly type: 'build-finished'; readonly dir: string; readonly report: BuildSummary }
  | { readonly type: 'build-failed'; readonly dir: string; readonly code: ErrorCode; readonly message: string }
  /** The base changed into something that is not a base (BTFD_ERR_WATCH_BASE_BROKEN); nothing was built. */
  | { readonly type: 'tree-error'; readonly dir: string; readonly code: ErrorCode; readonly message: string };

export interface WatchManagerOptions {
  readonly engine: Engine;
  /** Where registrations persist across restarts. */
  readonly registry: TreeRegistry;
  readonly logger: Logger;
  /** Quiet time before a burst of events is acted on. */
  readonly settleMs: number;
  /** Period of the stat rescan of every tree; 0 disables it. */
  readonly rescanMs: number;
  /** btfd's own dirs, never watched. */
  readonly ignoredDirs: readonly string[];
  /** Dirs a tree may have to be watched (see tree-size.ts); unbounded when omitted. */
  readonly maxDirs?: number;
  readonly publish: (event: WatchEvent) => void;
  /** Told the number of watched trees whenever it changes. */
  readonly onTreesChanged?: (count: number) => void;
}

/** What a tree is built with, as registered: null means the default. */
export interface TreeSettings {
  readonly base: string | null;
  readonly flags: string | null;
  readonly pahole: string | null;
}

/** A tree just registered, and the settings it replaced when it was already watched with others. */
export type WatchResult = TreeStatus & { readonly replaced: TreeSettings | null };

export interface WatchManager {
  /**
   * Register and start watching a tree; resolves once it is watched (its first build runs on).
   * Its base, pahole and flags are checked first (the engine probes pahole with the flags).
   */
  add(tree: { dir: string; base?: string; paholeFlags?: string; pahole?: string }): Promise<WatchResult>;
  /** Stop watching and forget a tree; false when it was not watched. */
  remove(dir: string): Promise<boolean>;
  /** Start watching every registered tree (after a restart); resolves after their first builds. */
  restore(): Promise<void>;
  /** Resolves when no tree has a build running or pending (tests and `reconcile`). */
  idle(): Promise<void>;
  list(): TreeStatus[];
  /** What a watched tree is built with (null for a tree not watched): a build of it defaults to these. */
  settingsOf(dir: string): TreeSettings | null;
  readonly size: number;
  close(): Promise<void>;
}

interface WatchedTree {
  readonly registration: TreeRegistration;
  readonly base: string;
  readonly watcher: TreeWatcher;
  baseDigest: string | null;
  /** Fires when the tree is unwatched: its build stops taking new modules. */
  readonly removed: AbortController;
  running: Promise<void> | null;
  /** Work that arrived while a build ran: all modules, or these; waiters hear when it is done. */
  pending: { all: boolean; modules: Set<string>; trigger: string; waiters: (() => void)[] } | null;
  /** The last build that changed or failed on a module (kept in the registry across restarts). */
  lastBuild: TreeBuild | null;
  /** The last build of any kind. */
  lastPass: TreeBuild | null;
  lastError: { code: ErrorCode; message: string } | null;
}

/** Passes btfd makes on its own: their fresh modules are not cache hits anyone asked for. */
const BACKGROUND_TRIGGERS: ReadonlySet<string> = new Set(['watch started', 'watcher ready', 'periodic rescan']);

function summary(report: BuildReport): BuildSummary {
  const { results: _results, ...rest } = report;
  return rest;
}

/** Create the manager; it watches nothing until add() or restore(). */
export function createWatchManager(options: WatchManagerOptions): WatchManager {
  const { engine, publish } = options;
  const log = options.logger.child({ component: 'watch' });
  const trees = new Map<string, WatchedTree>();
  let rescanTimer: NodeJS.Timeout | null = null;
  let closing: Promise<void> | null = null;
  /** Settles on close(): a restored tree's reconcile stops waiting for a scan that will not end. */
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });

  function status(tree: WatchedTree): TreeStatus {
    const health = tree.watcher.health();
    return {
      dir: tree.registration.dir,
      base: tree.base,
      flags: tree.registration.flags,
      pahole: tree.registration.pahole,
      ready: health.ready,
      building: tree.running !== null,
      missing: tree.lastError?.code === 'BTFD_ERR_TREE_NOT_FOUND',
      events: health.events,
      errors: health.errors,
      lastBuild: tree.lastBuild,
      lastPass: tree.lastPass,
      lastError: tree.lastError,
    };
  }

  /**
   * Queue work for a tree; start it unless a build runs, which then picks it up. Resolves when
   * the build that covered this work has finished (whether it succeeded or not).
   */
  function schedule(tree: WatchedTree, work: { all: boolean; modules: readonly string[]; trigger: string }): Promise<void> {
    const pending = (tree.pending ??= { all: false, modules: new Set(), trigger: work.trigger, waiters: [] });
    pending.all ||= work.all;
    for (const m of work.modules) pending.modules.add(m);
    const done = new Promise<void>((resolve) => pending.waiters.push(resolve));
    if (!tree.running) tree.running = drain(tree);
    return done;
  }

  async function drain(tree: WatchedTree): Promise<void> {
    const dir = tree.registration.dir;
    while (tree.pending && !closing && !tree.removed.signal.aborted) {
      const work = tree.pending;
      tree.pending = null;
      publish({ type: 'build-started', dir, trigger: work.trigger, modules: work.all ? 'all' : work.modules.size });
      try {
        const report = await engine.build(
          {
            dir,
            base: tree.base,
            ...(tree.registration.flags !== null ? { paholeFlags: tree.registration.flags } : {}),
            ...(tree.registration.pahole !== null ? { pahole: tree.registration.pahole } : {}),
            ...(work.all ? {} : { modules: [...work.modules] }),
          },
          {
            onEvent: (event) => publish({ type: 'build-progress', dir, event }),
            signal: tree.removed.signal,
            background: BACKGROUND_TRIGGERS.has(work.trigger),
            allowEmpty: true,
          },
        );
        const build: TreeBuild = { ...summary(report), atMs: Date.now(), trigger: work.trigger };
        tree.lastPass = build;
        // A pass that found every module fresh did nothing: it must not hide what the last build did.
        if (report.fresh !== report.modules) {
          tree.lastBuild = build;
          options.registry.recordBuild(dir, build);
        }
        tree.lastError = null;
        publish({ type: 'build-finished', dir, report: summary(report) });
        log.info({ dir, trigger: work.trigger, restored: report.restored, regenerated: report.regenerated, failed: report.failed }, 'tree build finished');
      } catch (err) {
        const error = toBtfdError(err);
        if (error.code === 'BTFD_ERR_BUILD_CANCELLED') {
          log.info({ dir }, 'tree build cancelled: the tree is no longer watched');
        } else {
          tree.lastError = { code: error.code, message: error.message };
          publish({ type: 'build-failed', dir, code: error.code, message: error.message });
          log.warn({ dir, code: error.code, err }, 'tree build failed');
        }
      }
      for (const waiter of work.waiters) waiter();
    }
    for (const waiter of tree.pending?.waiters ?? []) waiter();
    tree.pending = null;
    tree.running = null;
  }

  async function checkSize(dir: string): Promise<void> {
    if (options.maxDirs !== undefined) await checkWatchableSize(dir, options.maxDirs, options.ignoredDirs);
  }

  /** Mark a tree whose dir is gone: status says so instead of "watching". */
  function markMissing(tree: WatchedTree): void {
    const dir = tree.registration.dir;
    if (tree.lastError?.code === 'BTFD_ERR_TREE_NOT_FOUND') return;
    tree.lastError = { code: 'BTFD_ERR_TREE_NOT_FOUND', message: `${dir} no longer exists: \`btfd unwatch ${dir}\` forgets it; re-created, it is watched again` };
    publish({ type: 'tree-missing', dir });
    log.warn({ dir }, 'watched tree removed');
  }

  /**
   * The base's `.BTF` digest; when the base is not readable as one (a truncated or half-linked
   * vmlinux), the tree's error says so — with the reader's own code in the message — and null.
   * Staying silent here once hid a broken base: no event, `lastError` null.
   */
  async function baseDigestOrReport(tree: WatchedTree): Promise<string | null> {
    const dir = tree.registration.dir;
    try {
      const digest = await engine.baseDigest(tree.base);
      if (tree.lastError?.code === 'BTFD_ERR_WATCH_BASE_BROKEN') tree.lastError = null;
      return digest;
    } catch (err) {
      const cause = toBtfdError(err);
      const error = new BtfdError('BTFD_ERR_WATCH_BASE_BROKEN', `base ${tree.base}: ${cause.code}: ${cause.message}`, { cause: err });
      tree.lastError = { code: error.code, message: error.message };
      publish({ type: 'tree-error', dir, code: error.code, message: error.message });
      log.warn({ dir, base: tree.base, code: error.code, cause: cause.code, detail: cause.message }, 'watched tree\'s base is broken');
      return null;
    }
  }

  async function onChange(tree: WatchedTree, change: TreeChange): Promise<void> {
    if (change.removed.length > 0 || change.baseChanged) {
      const present = await stat(tree.registration.dir).then((s) => s.isDirectory(), () => false);
      if (!present) {
        for (const removed of change.removed) engine.forgetModule(removed);
        markMissing(tree);
        return;
      }
    }
    let all = false;
    let trigger = 'modules changed';
    if (change.baseChanged) {
      const digest = await baseDigestOrReport(tree);
      if (digest !== null && digest !== tree.baseDigest) {
        tree.baseDigest = digest;
        publish({ type: 'base-changed', dir: tree.registration.dir, digest });
        all = true;
        trigger = 'base BTF changed';
      }
    }
    if (change.modulesOrderChanged && !all) {
      all = true;
      trigger = 'modules.order changed';
    }
    for (const removed of change.removed) engine.forgetModule(removed);
    // A module exactly as btfd wrote it is btfd's own write echoing back: no work.
    const modules: string[] = [];
    for (const m of change.modules) if (!(await engine.isOwnWrite(m))) modules.push(m);
    const work = all || modules.length > 0;
    const files = change.modules.length + change.removed.length + (change.baseChanged ? 1 : 0) + (change.modulesOrderChanged ? 1 : 0);
    publish({ type: 'change-seen', dir: tree.registration.dir, files, work });
    if (work) schedule(tree, { all, modules, trigger });
  }

  /**
   * Start watching; resolves with the tree and a promise for its first (reconcile) build.
   * `afterScan` (a restart) runs that build once the watcher's scan is done, as the only pass.
   */
  async function startWatching(registration: TreeRegistration, afterScan = false): Promise<{ tree: WatchedTree; firstBuild: Promise<void> }> {
    const base = registration.base ?? defaultBase(registration.dir);
    let tree!: WatchedTree;
    const watcher = createTreeWatcher({
      dir: registration.dir,
      base,
      settleMs: options.settleMs,
      ignoredDirs: options.ignoredDirs,
      onChange: (change) => {
        onChange(tree, change).catch((err: unknown) => log.warn({ dir: registration.dir, err }, 'change handling failed'));
      },
      onError: (err) => log.warn({ dir: registration.dir, err }, 'watcher error'),
    });
    tree = {
      registration, base, watcher, baseDigest: null, removed: new AbortController(), running: null, pending: null,
      lastBuild: registration.lastBuild ?? null, lastPass: null, lastError: null,
    };
    trees.set(registration.dir, tree);
    options.onTreesChanged?.(trees.size);
    tree.baseDigest = await engine.baseDigest(base).catch(() => null);
    const stillWatched = (): boolean => trees.get(registration.dir) === tree && !closing;
    if (afterScan) {
      // On a restart the reconcile waits for the scan: every module it reads is then in a
      // watched dir, so no second pass is needed, and on a tree where nothing changed that second
      // full pass was about half of the restart.
      const firstBuild = Promise.race([watcher.ready, stopped]).then(() => (stillWatched() ? schedule(tree, { all: true, modules: [], trigger: 'watch started' }) : undefined));
      return { tree, firstBuild };
    }
    // Reconcile: whatever changed while nobody watched is found by one build over the tree. It
    // runs while chokidar scans (a large tree takes it a while) rather than after it; one more
    // pass once the watcher is ready covers a file changed in a dir not yet watched at the time.
    const firstBuild = schedule(tree, { all: true, modules: [], trigger: 'watch started' });
    void watcher.ready.then(() => {
      if (trees.get(registration.dir) === tree) void schedule(tree, { all: true, modules: [], trigger: 'watcher ready' });
    });
    return { tree, firstBuild };
  }

  /** A tree whose dir is back after it was deleted: watch it afresh (its old watcher saw it go). */
  async function revive(tree: WatchedTree): Promise<void> {
    const dir = tree.registration.dir;
    if (!(await stat(dir).then((s) => s.isDirectory(), () => false)) || trees.get(dir) !== tree) return;
    trees.delete(dir);
    tree.removed.abort();
    await tree.watcher.close();
    log.info({ dir }, 'watched tree is back');
    await checkSize(dir);
    await startWatching({ ...tree.registration, lastBuild: tree.lastBuild });
  }

  function armRescan(): void {
    if (options.rescanMs <= 0 || rescanTimer) return;
    rescanTimer = setInterval(() => {
      for (const tree of trees.values()) {
        if (tree.lastError?.code === 'BTFD_ERR_TREE_NOT_FOUND') {
          revive(tree).catch((err: unknown) => log.warn({ dir: tree.registration.dir, err }, 'could not watch a tree again'));
        } else {
          schedule(tree, { all: true, modules: [], trigger: 'periodic rescan' });
        }
      }
    }, options.rescanMs);
    rescanTimer.unref();
  }

  return {
    async add(request) {
      if (closing) throw new BtfdError('BTFD_ERR_DAEMON_SHUTTING_DOWN', 'the daemon is stopping');
      const dir = await resolveTreeDir(request.dir);
      const settings: TreeSettings = { base: request.base ? path.resolve(request.base) : null, flags: request.paholeFlags ?? null, pahole: request.pahole ?? null };
      // Before anything is registered: a refused tree leaves no trace.
      await checkSize(dir);
      // Fail now, with the base's, pahole's or the flags' own code, rather than in a background build.
      await engine.check({
        dir,
        base: settings.base ?? defaultBase(dir),
        ...(settings.flags !== null ? { paholeFlags: settings.flags } : {}),
        ...(settings.pahole !== null ? { pahole: settings.pahole } : {}),
      });
      const existing = trees.get(dir);
      const old = existing?.registration;
      const replaced = old && (old.base !== settings.base || old.flags !== settings.flags || old.pahole !== settings.pahole)
        ? { base: old.base, flags: old.flags, pahole: old.pahole }
        : null;
      if (existing) {
        trees.delete(dir);
        existing.removed.abort();
        await existing.watcher.close();
      }
      const registration: TreeRegistration = { dir, ...settings, createdMs: Date.now(), lastBuild: existing?.lastBuild ?? null };
      options.registry.put(registration);
      const { tree } = await startWatching(registration);
      await tree.watcher.ready;
      armRescan();
      publish({ type: 'tree-added', dir });
      if (replaced) log.info({ dir, replaced, settings }, 'tree re-registered with other settings');
      return { ...status(tree), replaced };
    },
    async remove(dir) {
      const absolute = path.resolve(dir);
      const tree = trees.get(absolute);
      const known = options.registry.remove(absolute);
      if (!tree) return known;
      trees.delete(absolute);
      options.onTreesChanged?.(trees.size);
      tree.removed.abort();
      await tree.watcher.close();
      publish({ type: 'tree-removed', dir: absolute });
      return true;
    },
    async restore() {
      const firstBuilds: Promise<void>[] = [];
      for (const registration of options.registry.list()) {
        try {
          // A tree that grew past the limit while the daemon was down is not watched (logged below).
          await checkSize(registration.dir);
          firstBuilds.push((await startWatching(registration, true)).firstBuild);
        } catch (err) {
          log.warn({ dir: registration.dir, err }, 'could not resume watching a tree');
        }
      }
      if (trees.size > 0) armRescan();
      await Promise.all(firstBuilds);
    },
    async idle() {
      for (;;) {
        const running = [...trees.values()].map((t) => t.running).filter((r): r is Promise<void> => r !== null);
        if (running.length === 0) return;
        await Promise.allSettled(running);
      }
    },
    list: () => [...trees.values()].map(status),
    settingsOf(dir) {
      const registration = trees.get(path.resolve(dir))?.registration;
      return registration ? { base: registration.base, flags: registration.flags, pahole: registration.pahole } : null;
    },
    get size() {
      return trees.size;
    },
    close() {
      closing ??= (async () => {
        stop();
        if (rescanTimer) clearInterval(rescanTimer);
        await Promise.allSettled([...trees.values()].map((t) => t.watcher.close()));
        await Promise.allSettled([...trees.values()].map((t) => t.running));
        trees.clear();
      })();
      return closing;
    },
  };
}
