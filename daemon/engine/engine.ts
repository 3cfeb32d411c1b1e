/**
 * The engine: builds trees, answers the drop-in and explains modules, composed from its parts —
 * the context resolver (tree, base, pahole, flags), the module input reader and the pure planner,
 * one step per action, the executor that installs, and the worker pool. The store is given to it
 * (the daemon opens one for the engine, the watcher and the routes); {@link openEngine} opens one
 * of its own for a single process (the demo, benchmarks, tests).
 */
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { lutimes, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { BuildEvent, BuildReport, BuildRequest, Explanation, ModuleResult, ModuleState, PaholeInfo } from '../../shared/build-types.js';
import { BtfdError, codeOf, ERROR_CATALOG, isErrorCode, toBtfdError } from '../../shared/errors.js';
import { countBy, describeCounts, MODULE_ACTIONS, MODULE_OUTCOMES, outcomeOf } from '../../shared/module-actions.js';
import { sweepTempFilesOf, writeFileAtomic } from '../fs/atomic-file.js';
import { checkFoundModule, checkWriteTarget } from '../fs/containment.js';
import { processAlive } from '../fs/process-alive.js';
import { DEFAULT_PAHOLE_TIMEOUT_MS, type RemoteCacheConfig } from '../../shared/config.js';
import type { ModuleRecord } from '../store/module-records.js';
import { openRemoteTier } from '../store/remote/open-remote.js';
import type { RemoteTier } from '../store/remote/remote-tier.js';
import { openStore, type Store } from '../store/store.js';
import { createTieredCache } from '../store/tiered-cache.js';
import type { TreeCheck } from '../../shared/protocol/kbuild.js';
import { checkKbuildTree } from '../tree/kbuild-check.js';
import { findModules, findTreeOf } from '../tree/module-tree.js';
import { describeKey } from './cache-key.js';
import { createContextResolver, type ContextRequest, type TreeContext } from './context.js';
import { createExecutor } from './executor.js';
import { mapLimited } from './map-limited.js';
import { createModuleInputReader, type ReadOptions } from './module-inputs.js';
import { createBaseViews } from './module-btf-ids.js';
import { createBookkeeping } from './bookkeeping.js';
import { createOwnWrites } from './own-writes.js';
import type { PaholeModuleRequest } from './pahole-argv.js';
import { decide, type ModulePlan } from './planner.js';
import { createBaseDiffs } from './base-diffs.js';
import { createRegenerateStep } from './steps/regenerate-step.js';
import { createRelocateStep } from './steps/relocate-step.js';
import { createRestoreStep } from './steps/restore-step.js';
import { createWorkerPool } from './worker-pool.js';

/** Modules planned or executed at once; the pool bounds the CPU work, this bounds open files. */
const MODULES_IN_FLIGHT = 16;
const DEFAULT_SEARCH_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The settings the engine needs (a subset of the resolved config). */
export interface EngineConfig {
  readonly pahole: string;
  readonly workers: number;
  readonly maxCacheBytes: number;
  /** PATH for finding pahole and running a tree's scripts. */
  readonly searchPath?: string;
  /** objcopy pahole uses to add `.BTF` (its LLVM_OBJCOPY). */
  readonly objcopy?: string;
  /** Relocate cached artifacts from other bases unless a request says otherwise; default true. */
  readonly relocate?: boolean;
  /** pahole's wall time on one module before it is killed; default DEFAULT_PAHOLE_TIMEOUT_MS. */
  readonly paholeTimeoutMs?: number;
}

/** Points where tests step in deterministically (a file swapped at a chosen moment). */
export interface EngineHooks {
  /** Called after a regeneration is planned and before the worker pool gets it. */
  readonly beforeRegenerate?: (modulePath: string) => Promise<void> | void;
}

export interface EngineOptions {
  readonly store: Store;
  /** The remote cache tier behind the store's local one, or none. */
  readonly remote?: RemoteTier | null;
  readonly config: EngineConfig;
  readonly logger: Logger;
  readonly hooks?: EngineHooks;
}

/** How a build runs, beside what it builds. */
export interface BuildOptions {
  /** Progress: `planned`, then one `module` event per module. */
  readonly onEvent?: (event: BuildEvent) => void;
  /**
   * Cancellation (Ctrl-C, a client that hung up, a tree unwatched): no module starts after it
   * fires and work waiting for a worker is dropped; modules in flight finish and are installed
   * atomically; then the build rejects with BTFD_ERR_BUILD_CANCELLED.
   */
  readonly signal?: AbortSignal;
  /**
   * A pass btfd makes on its own (a watched tree's reconcile or rescan): nobody asked for these
   * modules, so those it finds fresh are not counted as cache hits (the hit rate would only
   * measure how often the rescan runs).
   */
  readonly background?: boolean;
  /**
   * A tree without modules is a report of 0 modules instead of BTFD_ERR_TREE_NO_MODULES (a
   * watched tree may be empty until kbuild writes its modules).
   */
  readonly allowEmpty?: boolean;
}

/** The engine as the daemon's routes, its watcher and the in-process callers drive it. */
export interface Engine {
  /** Bring the request's modules up to date; resolves with the report even when modules failed. */
  build(request: BuildRequest, options?: BuildOptions): Promise<BuildReport>;
  /**
   * A module BTF request from the btfd-pahole drop-in (see pahole-argv.ts). In place, the module
   * ends newer than vmlinux as pahole's rewrite leaves it: a module found fresh has its times set.
   */
  encodeForPahole(request: PaholeModuleRequest): Promise<ModuleResult>;
  /** The key's inputs for one module and the cache's verdict, without changing anything. */
  explain(modulePath: string, options?: { base?: string; paholeFlags?: string; pahole?: string }): Promise<Explanation>;
  /**
   * Resolve and validate what a build of this request would run with (tree, base, pahole, flags
   * probed once with pahole), building nothing: a watch registration fails here, not later.
   */
  check(request: ContextRequest): Promise<{ readonly base: string; readonly flags: string; readonly pahole: PaholeInfo }>;
  /** Which pahole a request naming `pahole` (or none: the daemon's default) runs. */
  paholeInfo(pahole?: string): Promise<PaholeInfo>;
  /**
   * What btfd remembers of the modules under dir (all when omitted), those deleted since left out
   * (and forgotten): each one's last change and why, a failure with its code and next step.
   */
  listModules(dir?: string): Promise<ModuleState[]>;
  /** Forget a module that was deleted. */
  forgetModule(modulePath: string): void;
  /** sha256 of a base's `.BTF` bytes (or of a raw BTF file), through the stat cache. */
  baseDigest(basePath: string): Promise<string>;
  /** True when the module is exactly as btfd last wrote it (a watcher's event about our own write). */
  isOwnWrite(modulePath: string): Promise<boolean>;
  /** Worker pool figures for status: threads, tasks running, tasks waiting. */
  poolStats(): { size: number; busy: number; queued: number };
  /** `btfd kbuild`'s checks of a kernel build dir, with the given pahole (default: the daemon's). */
  checkKbuildTree(dir: string, pahole?: string): Promise<TreeCheck>;
  /**
   * The daemon is stopping: kill running paholes (their modules fail with
   * BTFD_ERR_DAEMON_SHUTTING_DOWN) and run no new ones, so that no build can hold the stop up.
   */
  interrupt(): void;
  /** Interrupts, waits for running work, then closes the worker pool. Idempotent. */
  close(): Promise<void>;
}

/** A scratch dir without its creator's pid (an older btfd) is left this long before it is swept. */
const UNOWNED_SCRATCH_MAX_AGE_MS = 60 * 60 * 1000;

/**
 * Remove the scratch dirs of regenerations a killed process left. A dir is named
 * `regen-PID-RANDOM` after the process that made it; the cache dir may be shared with another
 * live process (a `--no-daemon` run beside the daemon), whose dirs are left alone.
 */
function sweepScratch(tmpRoot: string, log: Logger): void {
  let removed = 0;
  for (const name of readdirSync(tmpRoot)) {
    if (!name.startsWith('regen-')) continue;
    const full = path.join(tmpRoot, name);
    const pid = /^regen-(\d+)-/.exec(name)?.[1];
    const stale = pid !== undefined
      ? Number(pid) !== process.pid && !processAlive(Number(pid))
      : Date.now() - statSync(full).mtimeMs > UNOWNED_SCRATCH_MAX_AGE_MS;
    if (!stale) continue;
    rmSync(full, { recursive: true, force: true });
    removed++;
  }
  if (removed > 0) log.info({ tmpRoot, removed }, 'removed scratch dirs of interrupted regenerations');
}

/** A record as `btfd modules` shows it; a failure with its catalog code and next step. */
function moduleState(record: ModuleRecord): ModuleState {
  const code = record.errorCode;
  const error = code !== null && isErrorCode(code) ? { code, message: record.reason, next: ERROR_CATALOG[code].next } : undefined;
  return {
    path: record.path, outcome: record.outcome, reason: record.reason, updatedMs: record.updatedMs, checkedMs: record.checkedMs,
    ...(error ? { error } : {}),
  };
}

function failure(modulePath: string, err: unknown, started: number): ModuleResult {
  const error = toBtfdError(err);
  return {
    path: modulePath,
    outcome: 'failed',
    reason: error.message,
    ms: Math.round(performance.now() - started),
    error: { code: codeOf(error), message: error.message, next: error.next },
  };
}

/** Create the engine over a store: starts the worker pool. */
export function createEngine(options: EngineOptions): Engine {
  const { config, store } = options;
  const log = options.logger.child({ component: 'engine' });
  const searchPath = config.searchPath ?? DEFAULT_SEARCH_PATH;
  const tmpRoot = path.join(store.dir, 'tmp');
  mkdirSync(tmpRoot, { recursive: true, mode: 0o700 });
  sweepScratch(tmpRoot, log);
  const pool = createWorkerPool({ workers: config.workers, logger: log });
  // Raised by close(): running paholes are killed rather than waited for (a hung one never ends).
  const stopFlag = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));
  const contexts = createContextResolver({ store, pahole: config.pahole, searchPath, relocate: config.relocate ?? true });
  // The local tier first, the remote (if any) behind it: every step talks to the tiers together.
  const cache = createTieredCache({ local: store.artifacts, counters: store.counters, remote: options.remote ?? null, log });
  const inputs = createModuleInputReader(store, pool, cache);
  const baseViews = createBaseViews(2);
  const ownWrites = createOwnWrites();
  const plan = async (ctx: TreeContext, modulePath: string, options: ReadOptions = {}): Promise<ModulePlan> => decide(await inputs.read(ctx, modulePath, options));
  const executor = createExecutor({
    store,
    ownWrites,
    log,
    replan: (ctx, modulePath) => plan(ctx, modulePath),
    steps: {
      restore: createRestoreStep({ cache, baseView: (snapshot) => baseViews.load(snapshot), log }),
      relocate: createRelocateStep({
        cache, blobPath: (digest) => store.artifacts.blobPath(digest), counters: store.counters, pool,
        diffs: createBaseDiffs(pool, store.bases), bases: store.bases, inputs, log,
      }),
      regenerate: createRegenerateStep({
        cache, counters: store.counters, pool, inputs, tmpRoot, objcopy: config.objcopy ?? 'objcopy', log,
        timeoutMs: config.paholeTimeoutMs ?? DEFAULT_PAHOLE_TIMEOUT_MS, stopFlag,
        ...(options.hooks?.beforeRegenerate ? { beforeRegenerate: options.hooks.beforeRegenerate } : {}),
      }),
    },
  });
  const running = new Set<Promise<unknown>>();
  let closing: Promise<void> | null = null;

  /** Track work so close() can wait for it; refuse new work once closing. */
  function track<T>(work: () => Promise<T>): Promise<T> {
    if (closing) return Promise.reject(new BtfdError('BTFD_ERR_DAEMON_SHUTTING_DOWN', 'the engine is closing'));
    const promise = work();
    running.add(promise);
    void promise.finally(() => running.delete(promise)).catch(() => undefined);
    return promise;
  }

  /** Keep the cache within its size limit, evicting by last use, once a build has added to it. */
  function evictIfOverLimit(): void {
    if (store.artifacts.totals().bytes <= config.maxCacheBytes) return;
    const evicted = store.artifacts.gc(config.maxCacheBytes);
    log.info({ removedEntries: evicted.removedEntries, removedBytes: evicted.removedBytes }, 'cache evicted to its size limit');
  }

  /** A module's failure: reported, and remembered (with its code) until a build succeeds on it. */
  function moduleFailed(modulePath: string, err: unknown, started: number): ModuleResult {
    const result = failure(modulePath, err, started);
    const error = result.error!;
    log.warn({ module: modulePath, code: error.code, err }, 'module failed');
    if (error.code === 'BTFD_ERR_MODULE_NOT_FOUND' || error.code === 'BTFD_ERR_MODULE_DELETED') forgetModule(modulePath);
    else store.modules.failed(modulePath, error, Date.now());
    return result;
  }

  function forgetModule(modulePath: string): void {
    store.modules.forget(modulePath);
    store.statCache.forget(modulePath);
    ownWrites.forget(modulePath);
  }

  async function build(request: BuildRequest, options: BuildOptions = {}): Promise<BuildReport> {
    const { onEvent, signal, background = false } = options;
    const started = performance.now();
    /** A module's work that the cancellation dropped: no result, no failure. */
    const dropped = (err: unknown): null => {
      if (codeOf(err) !== 'BTFD_ERR_BUILD_CANCELLED' || !signal?.aborted) throw err;
      return null;
    };
    const cancelledAfter = (done: number, total: number): BtfdError => {
      log.info({ dir: request.dir, done, total }, 'build cancelled');
      return new BtfdError('BTFD_ERR_BUILD_CANCELLED', `the build of ${request.dir} was cancelled after ${done} of ${total} modules; modules in flight finished, the others were left as they were`);
    };
    if (signal?.aborted) throw cancelledAfter(0, 0);
    const resolved = await contexts.resolve(request);
    const ctx: TreeContext = signal ? { ...resolved, signal } : resolved;
    const modules = request.modules ? request.modules.map((m) => path.resolve(ctx.dir, m)) : await findModules(ctx.dir);
    if (modules.length === 0 && !request.modules && options.allowEmpty !== true) {
      throw new BtfdError('BTFD_ERR_TREE_NO_MODULES', `no .ko file under ${ctx.dir}`);
    }
    // Refused before anything reads it: a symlink, a FIFO or a module outside the tree. What the
    // walk found lies in the tree's real directories, so only the file itself needs looking at.
    const checkModule = request.modules
      ? (modulePath: string) => checkWriteTarget(modulePath, ctx.realTree, 'module')
      : (modulePath: string) => checkFoundModule(modulePath);
    // A build of one module (a watched module changed on its own) waits on that module alone.
    const readOptions: ReadOptions = { alone: modules.length === 1 };
    const plans = await mapLimited(modules, MODULES_IN_FLIGHT, async (modulePath) => {
      if (signal?.aborted) return null;
      const planStarted = performance.now();
      return checkModule(modulePath).then(() => plan(ctx, modulePath, readOptions))
        .catch(dropped).catch((err: unknown) => moduleFailed(modulePath, err, planStarted));
    });
    if (signal?.aborted) throw cancelledAfter(0, modules.length);
    const planned = plans.flatMap((p) => (p !== null && 'action' in p ? [p.action] : []));
    onEvent?.({ type: 'planned', total: modules.length, ...countBy(MODULE_ACTIONS, planned) });
    let done = 0;
    const bookkeeping = createBookkeeping(store, log);
    const book = bookkeeping.book;
    const outcomes = await mapLimited(plans, MODULES_IN_FLIGHT, async (p) => {
      if (p === null || signal?.aborted) return null;
      const moduleStarted = performance.now();
      let result: ModuleResult | null;
      if (!('action' in p)) {
        result = p;
      } else if (p.action === 'fresh') {
        // Nothing to write: fresh as planned, a moment ago (a later change gets its own build).
        book(executor.bookFresh(ctx, p, !background));
        result = { path: p.path, outcome: 'fresh', reason: p.reason, ms: 0 };
      } else {
        result = await executor.execute(ctx, p, { book, countHits: !background }).catch(dropped).catch((err: unknown) => moduleFailed(p.path, err, moduleStarted));
      }
      if (result === null) return null;
      done++;
      onEvent?.({ type: 'module', result, done, total: modules.length });
      return result;
    });
    bookkeeping.commit();
    if (signal?.aborted) throw cancelledAfter(done, modules.length);
    const results = outcomes.filter((r): r is ModuleResult => r !== null);
    const report: BuildReport = {
      dir: ctx.dir,
      base: ctx.base,
      flags: ctx.flags.flags,
      pahole: { path: ctx.tool.path, version: ctx.tool.version },
      modules: results.length,
      ...countBy(MODULE_OUTCOMES, results.map((r) => r.outcome)),
      seconds: Number(((performance.now() - started) / 1000).toFixed(3)),
      failures: results.filter((r) => r.outcome === 'failed'),
      results,
    };
    evictIfOverLimit();
    log.info({ dir: report.dir, modules: report.modules, outcomes: describeCounts(report), seconds: report.seconds }, 'build finished');
    return report;
  }

  /**
   * One module BTF request from the btfd-pahole drop-in: the module as kbuild names it, with
   * kbuild's base and flags. In place, it is a one-module build that writes only what pahole
   * writes (kbuild runs resolve_btfids after it, and resolving twice scrambles kfunc flags);
   * detached, the `.BTF` bytes go to the named file and the module itself is left alone.
   */
  async function encodeForPahole(request: PaholeModuleRequest): Promise<ModuleResult> {
    const started = performance.now();
    const ctx = await contexts.resolve({ dir: path.dirname(request.module), base: request.base, paholeFlags: request.flags });
    if (!request.detachedOut) {
      const planned = await plan(ctx, request.module, { alone: true });
      const result = await executor.execute(ctx, planned, { scope: 'pahole', countHits: true });
      if (result.outcome === 'fresh') {
        // make compares mtimes; here rather than a `touch` forked by the drop-in. lutimes: never
        // through a symlink the module may have become since it was checked.
        const now = new Date();
        await executor.withFileLock(request.module, () => lutimes(request.module, now, now));
      }
      return result;
    }
    // The detached output goes where kbuild would put it: inside the module's own build tree.
    const { path: out } = await checkWriteTarget(request.detachedOut, await findTreeOf(request.module), 'output');
    return executor.withFileLock(request.module, async () => {
      await sweepTempFilesOf(out);
      const produced = await executor.produce(ctx, await plan(ctx, request.module, { alone: true }));
      // Regenerations count as misses and relocations as relocated in their own steps.
      if (produced.outcome === outcomeOf('restore')) store.counters.add('hits');
      await writeFileAtomic(out, produced.stored.artifact.sections.get('.BTF')!, { mode: 0o644 });
      return { path: request.module, outcome: produced.outcome, reason: produced.plan.reason, ms: Math.round(performance.now() - started) };
    });
  }

  /** Read-only: no stat rows, no snapshots, no cache touch, no record. */
  async function explain(modulePath: string, opts: { base?: string; paholeFlags?: string; pahole?: string } = {}): Promise<Explanation> {
    const absolute = path.resolve(modulePath);
    const previous = store.modules.get(absolute);
    const treeDir = await findTreeOf(absolute);
    const base = opts.base ?? previous?.inputs['basePath'];
    const flags = opts.paholeFlags ?? (previous?.inputs['flagsSource'] === 'option' ? previous.inputs['flags'] : undefined);
    const ctx = await contexts.resolve({ dir: treeDir, base, paholeFlags: flags, pahole: opts.pahole }, true);
    const p = await plan(ctx, absolute, { readOnly: true });
    const described = describeKey(p.inputs).map((input) => {
      const before = previous?.inputs[input.name];
      const named = input.name === 'tool' ? { ...input, value: `pahole ${ctx.tool.version} at ${ctx.tool.path}` } : input;
      const changed = before !== undefined && input.name !== 'schema' && input.name !== 'recipe' && before !== p.inputs[input.name];
      if (!changed) return named;
      // The record keeps the flags themselves (the other inputs as digests): show both.
      return input.name === 'flags' ? { ...named, previous: describeKey({ ...p.inputs, flags: before }).find((i) => i.name === 'flags')!.digest, previousValue: before } : { ...named, previous: before };
    });
    return {
      path: absolute,
      key: p.key,
      inputs: described,
      verdict: p.action,
      reason: p.reason,
      cached: p.cached !== null,
      ...(p.cached ? { tier: p.cached.tier } : {}),
      ...(previous ? { lastBuild: { outcome: previous.outcome, reason: previous.reason, atMs: previous.updatedMs } } : {}),
    };
  }

  return {
    build: (request, options) => track(() => build(request, options)),
    encodeForPahole: (request) => track(() => encodeForPahole(request)),
    explain: (modulePath, opts) => track(() => explain(modulePath, opts)),
    async check(request) {
      const ctx = await contexts.resolve(request, true);
      return { base: ctx.base, flags: ctx.flags.flags, pahole: { path: ctx.tool.path, version: ctx.tool.version } };
    },
    async paholeInfo(pahole) {
      const tool = await contexts.tool(pahole);
      return { path: tool.path, version: tool.version };
    },
    async listModules(dir) {
      const prefix = dir ? path.resolve(dir) + path.sep : undefined;
      const records = store.modules.list(prefix);
      const present = await Promise.all(records.map((r) => stat(r.path).then(() => true, () => false)));
      for (const [i, record] of records.entries()) if (!present[i]) forgetModule(record.path);
      return records.filter((_, i) => present[i]).map(moduleState);
    },
    forgetModule,
    baseDigest: (basePath) => contexts.baseDigest(basePath),
    isOwnWrite: (modulePath) => ownWrites.isOwnWrite(modulePath),
    poolStats: () => pool.stats(),
    checkKbuildTree: (dir, pahole) => checkKbuildTree(dir, pahole ?? config.pahole, searchPath),
    interrupt: () => Atomics.store(stopFlag, 0, 1),
    close() {
      closing ??= (async () => {
        Atomics.store(stopFlag, 0, 1);
        await Promise.allSettled(running);
        await pool.close();
      })();
      return closing;
    },
  };
}

/** How long {@link openEngine}'s close() waits for remote uploads (as the daemon's shutdown does). */
const OPEN_ENGINE_UPLOAD_DRAIN_MS = 10_000;

/**
 * An engine with a store of its own in `cacheDir`, and a remote tier when `remoteCache` is given,
 * for one process; close() closes the engine, drains uploads (bounded), then the remote and store.
 */
export function openEngine(
  options: Omit<EngineOptions, 'store' | 'remote'> & { readonly cacheDir: string; readonly remoteCache?: RemoteCacheConfig | null },
): Engine & { readonly store: Store; readonly remote: RemoteTier | null } {
  const { cacheDir, remoteCache, ...engineOptions } = options;
  const store = openStore({ dir: cacheDir });
  const remote = remoteCache ? openRemoteTier({ config: remoteCache, count: (name, by) => store.counters.add(name, by), logger: options.logger }) : null;
  const engine = createEngine({ ...engineOptions, store, remote });
  let closed: Promise<void> | null = null;
  return {
    ...engine,
    store,
    remote,
    close() {
      closed ??= engine.close()
        .then(() => remote?.drain(OPEN_ENGINE_UPLOAD_DRAIN_MS))
        .then(() => remote?.close())
        .finally(() => store.close());
      return closed;
    },
  };
}
