/**
 * Gathers what the planner decides from: the module's stat and digests (through the stat cache,
 * hashing on a miss), its key, the cache's entry for it and its history.
 *
 * A miss is hashed in the worker pool, except for a caller that waits on this one module alone
 * (the drop-in, a watched module changed on its own): that module is hashed on the main thread,
 * one at a time, since a module hashes in a few milliseconds and the round trip to a worker thread
 * (waking it, cloning the task and result) cost as much again on a loaded machine. With the same
 * function the worker runs, so both give the same digest.
 */
import { statSync } from 'node:fs';
import { BtfdError } from '../../shared/errors.js';
import { stampOf, type FileStamp } from '../fs/file-stamp.js';
import { isRacy, type FileDigests } from '../store/stat-cache.js';
import type { ArtifactCache, RelatedAction } from '../store/artifact-cache.js';
import type { ModuleRecord } from '../store/module-records.js';
import type { Store } from '../store/store.js';
import type { BtfIdsHints, DigestResult, DigestTask } from '../workers/module-worker-types.js';
import { sectionsDigest } from './artifact.js';
import { computeKey, RECIPE_SPLIT_BTF, type KeyInputs } from './cache-key.js';
import type { TreeContext } from './context.js';
import type { PlanInputs } from './planner.js';
import type { WorkerPool } from './worker-pool.js';

/** Recent base snapshots offered for reading a resolved `.BTF_ids` back. */
const RECENT_BASES_OFFERED = 4;

/** How a module's inputs are read. */
export interface ReadOptions {
  /** Write nothing, not even the stat cache (explain). */
  readonly readOnly?: boolean;
  /** The caller waits on this module alone: hash it on this thread when no other is being hashed here. */
  readonly alone?: boolean;
}

export interface ModuleInputReader {
  /** Read a module's plan inputs. */
  read(ctx: TreeContext, modulePath: string, options?: ReadOptions): Promise<PlanInputs>;
  /**
   * Where the BTF a module's resolved `.BTF_ids` was resolved against may be: its own `.BTF` on
   * the current base, the base of its last build, or recent bases; or what btfd last installed.
   */
  btfIdsHints(ctx: TreeContext, previous: ModuleRecord | null): Promise<BtfIdsHints>;
}

function toBuffers(record: Record<string, Uint8Array>): Map<string, Buffer> {
  return new Map(Object.entries(record).map(([name, bytes]) => [name, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]));
}

/**
 * `cache` answers the plan's lookup (every tier); the `.BTF_ids` hints read the local tier only,
 * since the worker reads the previous artifact's blob file.
 */
export function createModuleInputReader(store: Store, pool: WorkerPool, cache: ArtifactCache): ModuleInputReader {
  /** A module is being hashed on this thread: others go to the pool, so requests never queue here. */
  let hashingHere = false;
  /** The worker's own module, loaded on the first lone hash: the daemon's start does not pay for it. */
  const workerModule = (): Promise<typeof import('../workers/module-worker.js')> => import('../workers/module-worker.js');

  async function digestTask(task: DigestTask, alone: boolean, signal: AbortSignal | undefined): Promise<DigestResult> {
    if (!alone || hashingHere) return pool.digest(task, signal);
    hashingHere = true;
    try {
      const outcome = await (await workerModule()).digest(task);
      if (!outcome.ok) throw new BtfdError(outcome.code, outcome.message);
      return outcome.value;
    } finally {
      hashingHere = false;
    }
  }

  async function btfIdsHints(ctx: TreeContext, previous: ModuleRecord | null): Promise<BtfIdsHints> {
    const digests = [ctx.baseDigest, previous?.inputs['base'], ...store.bases.list().slice(0, RECENT_BASES_OFFERED)];
    const baseSnapshots = [...new Set(digests.filter((d): d is string => d !== undefined && store.bases.has(d)))].map((d) => store.bases.pathOf(d));
    const last = previous ? await store.artifacts.lookup(previous.key) : null;
    const lastBase = previous?.inputs['base'];
    return {
      baseSnapshots,
      ...(last && lastBase
        ? { previousArtifact: { blob: store.artifacts.blobPath(last.artifactDigest), digest: last.artifactDigest, baseSnapshot: store.bases.pathOf(lastBase) } }
        : {}),
    };
  }

  /** Content and output digests of a module, from the stat cache or by hashing it (recorded unless `readOnly`). */
  async function fileDigests(
    modulePath: string, stamp: FileStamp, statTakenMs: number, hints: () => Promise<BtfIdsHints>, options: ReadOptions, signal: AbortSignal | undefined,
  ): Promise<FileDigests> {
    const known = store.statCache.lookup(modulePath, stamp);
    if (known) return known;
    const { readOnly = false, alone = false } = options;
    const result = await digestTask({ path: modulePath, btfIds: await hints() }, alone, signal);
    const digests = { contentDigest: result.digest, outputsDigest: sectionsDigest(toBuffers(result.outputs)) };
    if (!readOnly) store.statCache.record(modulePath, stamp, digests, statTakenMs);
    return digests;
  }

  /**
   * The module's stat, and when it was taken (before the call: never later than the truth).
   * Without the threadpool, as containment's lstat: every build stats every module.
   */
  function statModule(modulePath: string): { stamp: FileStamp; statTakenMs: number } {
    const statTakenMs = Date.now();
    try {
      return { stamp: stampOf(statSync(modulePath, { bigint: true })), statTakenMs };
    } catch (err) {
      throw new BtfdError('BTFD_ERR_MODULE_NOT_FOUND', `${modulePath} does not exist`, { cause: err });
    }
  }

  /** The module's last build, if it ever had one (a module that only ever failed has none). */
  function previousBuild(modulePath: string): ModuleRecord | null {
    const record = store.modules.get(modulePath);
    return record !== null && record.key !== '' ? record : null;
  }

  /**
   * This module's artifact (same content, pahole, flags) on another base btfd keeps: the one on
   * the base its last build used, as the tree moves from base to base together; else the most
   * recently used.
   */
  async function relatedOnAnotherBase(ctx: TreeContext, inputs: KeyInputs, previous: ModuleRecord | null): Promise<RelatedAction | null> {
    const candidates = (await store.artifacts.related({ module: inputs.module, tool: inputs.tool, flags: inputs.flags }))
      .filter((c) => c.base !== ctx.baseDigest && store.bases.exists(c.base));
    return candidates.find((c) => c.base === previous?.inputs.base) ?? candidates[0] ?? null;
  }

  return {
    btfIdsHints,
    async read(ctx, modulePath, options = {}) {
      const readOnly = options.readOnly ?? false;
      const { stamp, statTakenMs } = statModule(modulePath);
      const previous = previousBuild(modulePath);
      const digests = await fileDigests(modulePath, stamp, statTakenMs, () => btfIdsHints(ctx, previous), options, ctx.signal);
      const inputs: KeyInputs = { recipe: RECIPE_SPLIT_BTF, tool: ctx.tool.identity, flags: ctx.flags.flags, base: ctx.baseDigest, module: digests.contentDigest };
      const key = computeKey(inputs);
      const cached = await cache.lookup(key, { tally: !readOnly });
      // A racy plan makes the worker hash the module again after pahole: only pay that where a
      // write after this stat could really leave the same stamp.
      return {
        path: modulePath,
        stamp,
        racy: isRacy(stamp, BigInt(statTakenMs) * 1_000_000n),
        inputs,
        key,
        outputsDigest: digests.outputsDigest,
        cached,
        related: cached || !ctx.relocate ? null : await relatedOnAnotherBase(ctx, inputs, previous),
        previous,
      };
    },
  };
}
