/**
 * The engine: plans each module (fresh / restore / regenerate) from its cache key and carries the
 * plan out. Planning hashes in the worker pool behind the stat cache; restoring patches cached
 * sections in, in process; regenerating runs pahole on a private copy in a worker.
 *
 * Order of writes for a regenerated module: blob → action row (the commit point) → module. A crash
 * anywhere leaves either the old module or the new one, and a cache that is consistent.
 */
import { readFile, stat } from 'node:fs/promises';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Piscina } from 'piscina';
import type { Logger } from 'pino';
import type { BuildEvent, BuildReport, BuildRequest, Explanation, ModuleAction, ModuleResult } from '../../shared/build-types.js';
import { BtfdError, codeOf, toBtfdError } from '../../shared/errors.js';
import { parseBtf, type Btf } from '../btf/btf-reader.js';
import { checkSplitFitsBase } from '../btf/split-check.js';
import { createBaseSnapshots } from '../store/base-snapshots.js';
import { openStore, RACY_WINDOW_NS, type CachedAction, type ModuleRecord, type StatKey, type Store } from '../store/store.js';
import type { BtfIdsHints, DigestResult, DigestTask, RegenerateResult, RegenerateTask, WorkerOutcome } from '../workers/module-worker-types.js';
import { decodeArtifact, encodeArtifact, sameInputs, sectionsDigest, type Artifact } from './artifact.js';
import { readBaseBtf } from './base-btf.js';
import { computeKey, describeKey, RECIPE_SPLIT_BTF, type KeyInputs } from './cache-key.js';
import { installSections } from './elf.js';
import type { PaholeModuleRequest } from './pahole-argv.js';
import writeFileAtomic from 'write-file-atomic';
import type { Engine } from './engine-types.js';
import { createKeyedLock, mapLimited } from './keyed-lock.js';
import { defaultBase, findModules, findTreeOf, resolveTreeDir } from './module-tree.js';
import { resolvePaholeFlags, type ResolvedFlags } from './pahole-flags.js';
import { findExecutable, resolvePaholeTool, type PaholeTool } from './pahole-tool.js';
import { createSingleFlight } from './single-flight.js';

/** Modules planned or executed at once; the pool bounds the CPU work, this bounds open files. */
const MODULES_IN_FLIGHT = 16;

/** The subset of the resolved config the engine needs. */
export interface EngineConfig {
  readonly cacheDir: string;
  readonly pahole: string;
  readonly workers: number;
  readonly maxCacheBytes: number;
  /** PATH for finding pahole and running a tree's scripts. */
  readonly searchPath?: string;
  /** objcopy pahole uses to add `.BTF` (its LLVM_OBJCOPY). */
  readonly objcopy?: string;
}

/** Points where tests step in deterministically (a file swapped at a chosen moment). */
export interface EngineHooks {
  /** Called after a regeneration is planned and before the worker pool gets it. */
  readonly beforeRegenerate?: (modulePath: string) => Promise<void> | void;
}

export interface EngineOptions {
  readonly config: EngineConfig;
  readonly logger: Logger;
  readonly hooks?: EngineHooks;
}

/** Everything a build of one tree keys on besides the module itself. */
interface TreeContext {
  readonly dir: string;
  readonly base: string;
  readonly baseDigest: string;
  /** The base's BTF bytes as a raw file named by baseDigest: what pahole reads. */
  readonly baseSnapshot: string;
  readonly tool: PaholeTool;
  readonly flags: ResolvedFlags;
}

/** An artifact with the digests it is known by. */
interface StoredArtifact {
  readonly artifact: Artifact;
  /** Digest of its sections alone: what a fresh module's outputs digest equals. */
  readonly outputsDigest: string;
}

/** Which of an artifact's sections an install writes: all, or what pahole itself writes. */
type InstallScope = 'artifact' | 'pahole';
const PAHOLE_SECTIONS: ReadonlySet<string> = new Set(['.BTF', '.BTF.base']);

/** What the planner decided for one module, with what it decided it from. */
interface ModulePlan {
  readonly path: string;
  readonly stat: StatKey;
  /** The stat was taken so soon after the file's last change that a later write could share it. */
  readonly racy: boolean;
  readonly inputs: KeyInputs;
  readonly key: string;
  readonly action: ModuleAction;
  readonly reason: string;
  /** The action row for restore and fresh. */
  readonly cached: CachedAction | null;
  readonly previous: ModuleRecord | null;
}

/** Parsed bases kept in memory for checking cached artifacts (a vmlinux BTF parses in ~0.1 s). */
const PARSED_BASES_KEPT = 2;

/** How many times a module rewritten under a build is re-planned before it fails. */
const MAX_REPLANS = 3;

const DEFAULT_SEARCH_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function statKeyOf(info: import('node:fs').BigIntStats): StatKey {
  return { dev: info.dev, ino: info.ino, size: Number(info.size), mtimeNs: info.mtimeNs, ctimeNs: info.ctimeNs };
}

function ownWriteStamp(s: StatKey): string {
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}

function sameStat(a: StatKey, b: StatKey): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

/** Names of key inputs that differ from the module's last build, in words for a reason string. */
function describeChanges(previous: ModuleRecord | null, inputs: KeyInputs): string[] {
  if (!previous) return [];
  const words: Record<string, string> = { tool: 'pahole changed', flags: 'flags changed', base: 'base BTF changed', module: 'module changed' };
  return Object.keys(words).filter((name) => previous.inputs[name] !== undefined && previous.inputs[name] !== inputs[name as keyof KeyInputs]).map((name) => words[name]!);
}

function toBuffers(record: Record<string, Uint8Array>): Map<string, Buffer> {
  return new Map(Object.entries(record).map(([name, bytes]) => [name, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]));
}

/** pahole's flags as btfd runs it: without -j, whose output pahole < 1.27 does not reproduce. */
function paholeArgs(flags: string): string[] {
  return flags.split(' ').filter((flag) => flag !== '' && flag !== '-j');
}

/** Create the engine: opens the store and the worker pool. */
export function createEngine(options: EngineOptions): Engine {
  const { config } = options;
  const log = options.logger.child({ component: 'engine' });
  const searchPath = config.searchPath ?? DEFAULT_SEARCH_PATH;
  const objcopy = config.objcopy ?? 'objcopy';
  const store: Store = openStore({ dir: config.cacheDir, maxBytes: config.maxCacheBytes });
  const baseSnapshots = createBaseSnapshots(path.join(config.cacheDir, 'bases'));
  const parsedBases = new Map<string, Promise<Btf>>();
  const tmpRoot = path.join(config.cacheDir, 'tmp');
  mkdirSync(tmpRoot, { recursive: true, mode: 0o700 });
  const pool = new Piscina({
    filename: new URL('../workers/module-worker.js', import.meta.url).href,
    maxThreads: Math.max(1, config.workers),
    minThreads: 0,
    idleTimeout: 30_000,
  });
  // A worker that dies outside a task (it failed to load, say) must not take the daemon with it:
  // its running task rejects on its own, and the pool starts a new thread for the next one.
  pool.on('error', (err: unknown) => log.error({ err }, 'worker thread failed'));
  const fileLock = createKeyedLock();
  const regenerateFlight = createSingleFlight<StoredArtifact>();
  const toolCache = new Map<string, Promise<PaholeTool>>();
  /** The stat of each module as btfd last wrote it, so a watcher can tell its own writes apart. */
  const ownWrites = new Map<string, string>();
  const running = new Set<Promise<unknown>>();
  let closing: Promise<void> | null = null;
  /** Worker tasks submitted and not yet answered (running or queued). */
  let busyTasks = 0;

  /** Run a worker task; its coded error is rethrown here as a BtfdError. */
  async function runInWorker<T>(name: 'digest' | 'regenerate', task: DigestTask | RegenerateTask): Promise<T> {
    busyTasks++;
    const result = (await pool.run(task, { name }).finally(() => busyTasks--)) as WorkerOutcome<T>;
    if (!result.ok) throw new BtfdError(result.code, result.message);
    return result.value;
  }

  /** Track work so close() can wait for it. */
  function track<T>(promise: Promise<T>): Promise<T> {
    running.add(promise);
    void promise.finally(() => running.delete(promise)).catch(() => undefined);
    return promise;
  }

  /** pahole's identity, recomputed only when the binary on disk changes. */
  async function resolveTool(): Promise<PaholeTool> {
    const found = await findExecutable(config.pahole, searchPath);
    if (!found) throw new BtfdError('BTFD_ERR_TOOL_PAHOLE_MISSING', `pahole not found (looked for "${config.pahole}")`);
    const info = await stat(found);
    const cacheKey = `${found}:${info.size}:${info.mtimeMs}:${info.ino}`;
    let tool = toolCache.get(cacheKey);
    if (!tool) {
      tool = resolvePaholeTool(found, searchPath);
      toolCache.clear();
      toolCache.set(cacheKey, tool);
      tool.catch(() => toolCache.delete(cacheKey));
    }
    return tool;
  }

  /**
   * The base's `.BTF` digest, through the stat cache like a module's: every drop-in call names the
   * base, and re-hashing megabytes of BTF per call would dominate a cache hit. A digest is only
   * returned once its snapshot exists, so whatever pahole reads is what the digest names.
   */
  async function baseDigestOf(basePath: string): Promise<string> {
    const info = await stat(basePath, { bigint: true }).catch(() => null);
    const statKey = info ? statKeyOf(info) : null;
    const known = statKey ? store.lookupFile(basePath, statKey) : null;
    if (known && baseSnapshots.has(known.contentDigest)) return known.contentDigest;
    const { btf, digest } = await readBaseBtf(basePath);
    baseSnapshots.put(btf);
    baseSnapshots.prune();
    if (statKey) store.recordFile(basePath, statKey, { contentDigest: digest, outputsDigest: null });
    return digest;
  }

  async function resolveContext(dir: string, base: string | undefined, paholeFlags: string | undefined): Promise<TreeContext> {
    const treeDir = await resolveTreeDir(dir);
    const basePath = path.resolve(treeDir, base ?? defaultBase(treeDir));
    const [baseDigest, tool] = await Promise.all([baseDigestOf(basePath), resolveTool()]);
    const flags = await resolvePaholeFlags({ treeDir, explicit: paholeFlags, tool, searchPath, log });
    return { dir: treeDir, base: basePath, baseDigest, baseSnapshot: baseSnapshots.pathOf(baseDigest), tool, flags };
  }

  /**
   * Where the BTF a module's resolved `.BTF_ids` was resolved against may be: its own `.BTF` on the
   * current base, the base of its last build, or recent bases; or the artifact btfd last installed.
   */
  function btfIdsHints(ctx: TreeContext, previous: ModuleRecord | null): BtfIdsHints {
    const digests = [ctx.baseDigest, previous?.inputs.base, ...baseSnapshots.list().slice(0, 4)];
    const baseSnapshotPaths = [...new Set(digests.filter((d): d is string => d !== undefined && baseSnapshots.has(d)))].map((d) => baseSnapshots.pathOf(d));
    const last = previous ? store.peekAction(previous.key) : null;
    const lastBase = previous?.inputs.base;
    return {
      baseSnapshots: baseSnapshotPaths,
      ...(last && lastBase ? { previousArtifact: { blob: store.blobPath(last.artifactDigest), digest: last.artifactDigest, baseSnapshot: baseSnapshots.pathOf(lastBase) } } : {}),
    };
  }

  /** Content and output digests of a module, from the stat cache or by hashing in a worker. */
  async function fileDigests(modulePath: string, statKey: StatKey, btfIds: () => BtfIdsHints) {
    const known = store.lookupFile(modulePath, statKey);
    if (known) return known;
    const task: DigestTask = { path: modulePath, btfIds: btfIds() };
    const result = await runInWorker<DigestResult>('digest', task);
    const digests = { contentDigest: result.digest, outputsDigest: sectionsDigest(toBuffers(result.outputs)) };
    store.recordFile(modulePath, statKey, digests);
    return digests;
  }

  async function planModule(ctx: TreeContext, modulePath: string): Promise<ModulePlan> {
    const statTakenNs = BigInt(Date.now()) * 1_000_000n;
    const info = await stat(modulePath, { bigint: true }).catch((err: unknown) => {
      throw new BtfdError('BTFD_ERR_MODULE_NOT_FOUND', `${modulePath} does not exist`, { cause: err });
    });
    const statKey = statKeyOf(info);
    const lastChangeNs = info.mtimeNs > info.ctimeNs ? info.mtimeNs : info.ctimeNs;
    const racy = lastChangeNs >= statTakenNs - RACY_WINDOW_NS;
    const previous = store.getModule(modulePath);
    const digests = await fileDigests(modulePath, statKey, () => btfIdsHints(ctx, previous));
    const inputs: KeyInputs = {
      recipe: RECIPE_SPLIT_BTF,
      tool: ctx.tool.identity,
      flags: ctx.flags.flags,
      base: ctx.baseDigest,
      module: digests.contentDigest,
    };
    const key = computeKey(inputs);
    const changes = describeChanges(previous, inputs);
    const because = changes.length > 0 ? changes.join(', ') : previous ? 'output sections missing or altered' : 'first build';
    // getAction bumps last_used: a module that is merely fresh still keeps its entry alive for gc.
    const cached = store.getAction(key);
    const base = { path: modulePath, stat: statKey, racy, inputs, key, previous, cached };
    if (cached && digests.outputsDigest === cached.outputsDigest) {
      return { ...base, action: 'fresh', reason: 'output sections match the cached artifact' };
    }
    if (cached) return { ...base, action: 'restore', reason: `cached (${because})` };
    return { ...base, action: 'regenerate', reason: `not cached (${because})` };
  }

  /**
   * Run pahole for a key (once, however many modules share it) and store the artifact. The worker
   * answers MODULE_CHANGED unless the module it read is the one planned, so nothing is stored
   * under inputs it was not computed from.
   */
  function regenerateArtifact(ctx: TreeContext, plan: ModulePlan): Promise<StoredArtifact> {
    return regenerateFlight.run(plan.key, async () => {
      const task: RegenerateTask = {
        modulePath: plan.path,
        stamp: { dev: BigInt(plan.stat.dev), ino: BigInt(plan.stat.ino), size: BigInt(plan.stat.size), mtimeNs: plan.stat.mtimeNs, ctimeNs: plan.stat.ctimeNs },
        moduleDigest: plan.inputs.module,
        racy: plan.racy,
        baseSnapshot: ctx.baseSnapshot,
        btfIds: btfIdsHints(ctx, plan.previous),
        paholePath: ctx.tool.path,
        flags: paholeArgs(ctx.flags.flags),
        tmpRoot,
        objcopy,
      };
      await options.hooks?.beforeRegenerate?.(plan.path);
      const result = await runInWorker<RegenerateResult>('regenerate', task);
      for (const warning of result.warnings) log.warn({ module: plan.path, warning }, 'resolve_btfids warning');
      const artifact: Artifact = { inputs: plan.inputs, sections: toBuffers(result.sections) };
      const outputs = sectionsDigest(artifact.sections)!;
      store.putArtifact(plan.key, encodeArtifact(artifact), { outputsDigest: outputs, inputs: plan.inputs, costMs: result.ms });
      store.recordMiss();
      return { artifact, outputsDigest: outputs };
    });
  }

  /** The base a plan keys on, parsed (kept for the last few bases). */
  function parsedBase(ctx: TreeContext): Promise<Btf> {
    let parsed = parsedBases.get(ctx.baseDigest);
    if (!parsed) {
      parsed = readFile(ctx.baseSnapshot).then((bytes) => parseBtf(bytes, null, ctx.base));
      parsed.catch(() => parsedBases.delete(ctx.baseDigest));
      parsedBases.set(ctx.baseDigest, parsed);
      while (parsedBases.size > PARSED_BASES_KEPT) parsedBases.delete(parsedBases.keys().next().value!);
    }
    return parsed;
  }

  /**
   * The cached artifact for a plan, or null when it cannot be used: blob gone or corrupt, made
   * from other inputs than the plan's (whatever the row says, the blob names its own inputs), or
   * BTF that does not fit the plan's base.
   */
  async function readCachedArtifact(ctx: TreeContext, plan: ModulePlan): Promise<StoredArtifact | null> {
    if (!plan.cached) return null;
    const blob = store.readBlob(plan.cached.artifactDigest);
    if (!blob) {
      log.warn({ module: plan.path, digest: plan.cached.artifactDigest }, 'cache blob missing or corrupt; regenerating');
      return null;
    }
    try {
      const artifact = decodeArtifact(blob);
      const outputs = sectionsDigest(artifact.sections);
      if (!sameInputs(artifact.inputs, plan.inputs) || outputs !== plan.cached.outputsDigest) {
        throw new BtfdError('BTFD_ERR_CACHE_CORRUPT', 'the cache entry names an artifact of other inputs');
      }
      const distilled = artifact.sections.get('.BTF.base');
      const base = distilled ? parseBtf(distilled, null, 'artifact .BTF.base') : await parsedBase(ctx);
      checkSplitFitsBase(artifact.sections.get('.BTF')!, base, 'the cached .BTF');
      return { artifact, outputsDigest: outputs };
    } catch (err) {
      log.error({ module: plan.path, digest: plan.cached.artifactDigest, key: plan.key, err }, 'cache entry unusable; discarded, not installed');
      store.discardBlob(plan.cached.artifactDigest);
      return null;
    }
  }

  async function installAndRecord(plan: ModulePlan, stored: StoredArtifact, scope: InstallScope = 'artifact'): Promise<void> {
    const sections = scope === 'artifact' ? stored.artifact.sections : new Map([...stored.artifact.sections].filter(([name]) => PAHOLE_SECTIONS.has(name)));
    await installSections(plan.path, sections);
    const after = statKeyOf(await stat(plan.path, { bigint: true }));
    ownWrites.set(plan.path, ownWriteStamp(after));
    // A partial install leaves outputs btfd did not write: the next plan hashes them.
    if (scope === 'artifact') store.recordFile(plan.path, after, { contentDigest: plan.inputs.module, outputsDigest: stored.outputsDigest });
  }

  /**
   * The artifact a plan needs: the cached one when it is usable, else pahole's. A module rewritten
   * under pahole is re-planned (a bounded number of times) and the new plan carried out instead.
   */
  async function artifactFor(ctx: TreeContext, planned: ModulePlan): Promise<{ plan: ModulePlan; stored: StoredArtifact; outcome: 'restored' | 'regenerated' }> {
    let plan = planned;
    for (let attempt = 1; ; attempt++) {
      const cached = await readCachedArtifact(ctx, plan);
      if (cached) return { plan, stored: cached, outcome: 'restored' };
      try {
        return { plan, stored: await regenerateArtifact(ctx, plan), outcome: 'regenerated' };
      } catch (err) {
        if (codeOf(err) !== 'BTFD_ERR_MODULE_CHANGED' || attempt >= MAX_REPLANS) throw err;
        log.info({ module: plan.path, attempt }, 'module changed under its regeneration; re-planning');
        plan = await planModule(ctx, plan.path);
      }
    }
  }

  /** Carry out a plan under the module's lock, re-planning if the file changed since planning. */
  async function executeModule(ctx: TreeContext, planned: ModulePlan, scope: InstallScope = 'artifact'): Promise<ModuleResult> {
    const started = performance.now();
    return fileLock.withLock(planned.path, async () => {
      let plan = planned;
      const current = statKeyOf(await stat(plan.path, { bigint: true }));
      if (!sameStat(current, plan.stat)) plan = await planModule(ctx, plan.path);
      let outcome: ModuleResult['outcome'] = 'fresh';
      let reason = plan.reason;
      if (plan.action !== 'fresh') {
        const got = await artifactFor(ctx, plan);
        if (plan.action === 'restore' && got.outcome === 'regenerated') reason = 'cache entry was unusable';
        ({ plan, outcome } = got);
        await installAndRecord(plan, got.stored, scope);
        if (outcome === 'restored') store.recordHit(plan.cached?.costMs ?? 0);
      }
      store.recordModule({
        path: plan.path,
        key: plan.key,
        inputs: { ...plan.inputs, basePath: ctx.base, flagsSource: ctx.flags.source },
        outcome,
        reason,
        updatedMs: Date.now(),
      });
      return { path: plan.path, outcome, reason, ms: Math.round(performance.now() - started) };
    });
  }

  function failure(modulePath: string, err: unknown, started: number): ModuleResult {
    const error = toBtfdError(err);
    log.warn({ module: modulePath, code: error.code, err }, 'module failed');
    return {
      path: modulePath,
      outcome: 'failed',
      reason: error.message,
      ms: Math.round(performance.now() - started),
      error: { code: codeOf(error), message: error.message, next: error.next },
    };
  }

  /** Keep the cache within its size limit, evicting by last use, once a build has added to it. */
  function evictIfOverLimit(): void {
    if (store.stats().bytes <= config.maxCacheBytes) return;
    const evicted = store.gc(config.maxCacheBytes);
    log.info({ removedEntries: evicted.removedEntries, removedBytes: evicted.removedBytes }, 'cache evicted to its size limit');
  }

  async function build(request: BuildRequest, onEvent?: (event: BuildEvent) => void): Promise<BuildReport> {
    if (closing) throw new BtfdError('BTFD_ERR_DAEMON_SHUTTING_DOWN', 'the engine is closing');
    const started = performance.now();
    const ctx = await resolveContext(request.dir, request.base, request.paholeFlags);
    const modules = request.modules ? request.modules.map((m) => path.resolve(ctx.dir, m)) : await findModules(ctx.dir);
    const plans = await mapLimited(modules, MODULES_IN_FLIGHT, async (modulePath) => {
      const planStarted = performance.now();
      return planModule(ctx, modulePath).catch((err: unknown) => failure(modulePath, err, planStarted));
    });
    const count = (action: ModuleAction) => plans.filter((p) => 'action' in p && p.action === action).length;
    onEvent?.({ type: 'planned', total: modules.length, fresh: count('fresh'), restore: count('restore'), regenerate: count('regenerate') });
    let done = 0;
    const results = await mapLimited(plans, MODULES_IN_FLIGHT, async (plan) => {
      const moduleStarted = performance.now();
      const result = 'action' in plan ? await executeModule(ctx, plan).catch((err: unknown) => failure(plan.path, err, moduleStarted)) : plan;
      done++;
      onEvent?.({ type: 'module', result, done, total: modules.length });
      return result;
    });
    const tally = (outcome: ModuleResult['outcome']) => results.filter((r) => r.outcome === outcome).length;
    const report: BuildReport = {
      dir: ctx.dir,
      base: ctx.base,
      flags: ctx.flags.flags,
      modules: results.length,
      fresh: tally('fresh'),
      restored: tally('restored'),
      regenerated: tally('regenerated'),
      failed: tally('failed'),
      seconds: Number(((performance.now() - started) / 1000).toFixed(3)),
      failures: results.filter((r) => r.outcome === 'failed'),
      results,
    };
    evictIfOverLimit();
    log.info({ dir: report.dir, modules: report.modules, fresh: report.fresh, restored: report.restored, regenerated: report.regenerated, failed: report.failed, seconds: report.seconds }, 'build finished');
    return report;
  }

  /**
   * One module BTF request from the btfd-pahole drop-in: the module as kbuild names it, with
   * kbuild's base and flags. In place, it is a one-module build; detached, the `.BTF` bytes go to
   * the named file (atomically) and the module itself is left alone.
   */
  async function encodeForPahole(request: PaholeModuleRequest): Promise<ModuleResult> {
    const started = performance.now();
    const ctx = await resolveContext(path.dirname(request.module), request.base, request.flags);
    // kbuild runs resolve_btfids after pahole: write only what pahole writes, so its run finds a
    // pristine .BTF_ids (resolving twice scrambles kfunc flags).
    if (!request.detachedOut) return executeModule(ctx, await planModule(ctx, request.module), 'pahole');
    const out = request.detachedOut;
    return fileLock.withLock(request.module, async () => {
      const got = await artifactFor(ctx, await planModule(ctx, request.module));
      if (got.outcome === 'restored') store.recordHit(got.plan.cached?.costMs ?? 0);
      await writeFileAtomic(out, got.stored.artifact.sections.get('.BTF')!, { mode: 0o644 });
      return { path: request.module, outcome: got.outcome, reason: got.plan.reason, ms: Math.round(performance.now() - started) };
    });
  }

  async function explain(modulePath: string, opts: { base?: string; paholeFlags?: string } = {}): Promise<Explanation> {
    const absolute = path.resolve(modulePath);
    const previous = store.getModule(absolute);
    const treeDir = await findTreeOf(absolute);
    const base = opts.base ?? previous?.inputs.basePath;
    const flags = opts.paholeFlags ?? (previous?.inputs.flagsSource === 'option' ? previous.inputs.flags : undefined);
    const ctx = await resolveContext(treeDir, base, flags);
    const plan = await planModule(ctx, absolute);
    const inputs = describeKey(plan.inputs).map((input) => {
      const before = previous?.inputs[input.name];
      return before !== undefined && input.name !== 'schema' && input.name !== 'recipe' && before !== plan.inputs[input.name] ? { ...input, previous: before } : input;
    });
    return {
      path: absolute,
      key: plan.key,
      inputs,
      verdict: plan.action,
      reason: plan.reason,
      cached: plan.cached !== null,
      ...(previous ? { lastBuild: { outcome: previous.outcome, reason: previous.reason, atMs: previous.updatedMs } } : {}),
    };
  }

  return {
    build: (request, onEvent) => track(build(request, onEvent)),
    encodeForPahole: (request) => track(encodeForPahole(request)),
    explain: (modulePath, opts) => track(explain(modulePath, opts)),
    listModules(dir) {
      const prefix = dir ? path.resolve(dir) + path.sep : undefined;
      return store.listModules(prefix).map((r) => ({ path: r.path, outcome: r.outcome, reason: r.reason, updatedMs: r.updatedMs }));
    },
    baseDigest: (basePath) => baseDigestOf(basePath),
    async isOwnWrite(modulePath) {
      const stamp = ownWrites.get(modulePath);
      if (!stamp) return false;
      const info = await stat(modulePath, { bigint: true }).catch(() => null);
      return info !== null && ownWriteStamp(statKeyOf(info)) === stamp;
    },
    trees: {
      put: (tree) => store.putTree(tree),
      remove: (dir) => store.removeTree(dir),
      list: () => store.listTrees(),
    },
    poolStats: () => ({ size: config.workers, busy: Math.max(0, busyTasks - pool.queueSize), queued: pool.queueSize }),
    cacheStats: () => store.stats(),
    cacheGc: (maxBytes) => store.gc(maxBytes),
    cacheVerify: () => store.verify(),
    cacheClear: () => store.clear(),
    close() {
      closing ??= (async () => {
        await Promise.allSettled([...running]);
        await pool.destroy();
        store.close();
      })();
      return closing;
    },
  };
}
