/**
 * The executor carries plans out, one module at a time per file: under the module's lock it
 * re-plans if the file changed since planning, gets the artifact from the plan's action step
 * (falling back to regenerating when a step cannot deliver, and re-planning when the module is
 * rewritten under pahole), installs it atomically, and records what happened. It is the only part
 * of the engine that writes modules.
 *
 * Order of writes for a regenerated module: blob → action row (the commit point) → module. A crash
 * anywhere leaves either the old module or the new one, and a cache that is consistent.
 */
import { stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { ModuleResult } from '../../shared/build-types.js';
import { BtfdError, codeOf } from '../../shared/errors.js';
import { outcomeOf, type ModuleOutcome } from '../../shared/module-actions.js';
import { installSections } from '../elf/elf-install.js';
import { sweepTempFilesOf } from '../fs/atomic-file.js';
import { checkWriteTarget } from '../fs/containment.js';
import { sameStamp, stampOf, type FileStamp } from '../fs/file-stamp.js';
import type { Store } from '../store/store.js';
import type { TreeContext } from './context.js';
import { createKeyedLock } from './keyed-lock.js';
import type { OwnWrites } from './own-writes.js';
import type { ModulePlan } from './planner.js';
import type { ActionSteps, StoredArtifact } from './steps/action-step.js';

/** How many times a module rewritten under a build is re-planned before it fails. */
const MAX_REPLANS = 3;

/** Which of an artifact's sections an install writes: all, or only what pahole itself writes. */
export type InstallScope = 'artifact' | 'pahole';
const PAHOLE_SECTIONS: ReadonlySet<string> = new Set(['.BTF', '.BTF.base']);

export interface ExecutorOptions {
  readonly store: Store;
  readonly steps: ActionSteps;
  /** Plan a module afresh (after it changed). */
  readonly replan: (ctx: TreeContext, modulePath: string) => Promise<ModulePlan>;
  readonly ownWrites: OwnWrites;
  readonly log: Logger;
}

export interface ExecuteOptions {
  readonly scope?: InstallScope;
  /**
   * Where a module's bookkeeping goes once its file is settled: the store writes recording its
   * outcome, its stamp, its entry's last use and the hit counters. A build gathers them and
   * commits them together (one transaction, not five per module); default: committed at once.
   * Bookkeeping lost to a crash costs a re-hash of the module next time, never a wrong answer.
   */
  readonly book?: (writes: () => void) => void;
  /** Whether a module found fresh counts as a cache hit (a request, not a watch pass). */
  readonly countHits?: boolean;
}

/** A plan's artifact, with the plan it was finally produced for and what to record of it. */
export interface Produced {
  readonly plan: ModulePlan;
  readonly stored: StoredArtifact;
  readonly outcome: ModuleOutcome;
  readonly reason: string;
}

export interface Executor {
  /** Carry out a plan: install its artifact (or nothing, when fresh) and book the outcome. */
  execute(ctx: TreeContext, plan: ModulePlan, options?: ExecuteOptions): Promise<ModuleResult>;
  /**
   * Book a module found fresh as planned (see ExecuteOptions.book). A fresh module is a cache hit
   * too, when counted: its artifact is what the cache holds for its key.
   */
  bookFresh(ctx: TreeContext, plan: ModulePlan, countHits: boolean): () => void;
  /** The artifact a plan needs, without installing it (the drop-in's detached output). */
  produce(ctx: TreeContext, plan: ModulePlan): Promise<Produced>;
  /** Run work under a module's lock. */
  withFileLock<T>(modulePath: string, work: () => Promise<T>): Promise<T>;
}

export function createExecutor(options: ExecutorOptions): Executor {
  const { store, steps, log } = options;
  const fileLock = createKeyedLock();

  /**
   * A regeneration planned before another module with the same key was regenerated (the plans of
   * a build are made before any runs) restores what that one stored: one pahole run per key and
   * build, not one per batch of concurrent modules. The local tier is asked only: a regeneration
   * stores there first, and the remote already answered this key's miss when it was planned.
   */
  async function cachedSincePlanned(plan: ModulePlan): Promise<ModulePlan> {
    if (plan.action !== 'regenerate') return plan;
    const found = await store.artifacts.lookup(plan.key, { tally: false });
    return found ? { ...plan, cached: found, action: 'restore', reason: `cached since it was planned (${plan.because})` } : plan;
  }

  async function produce(ctx: TreeContext, planned: ModulePlan): Promise<Produced> {
    let plan = await cachedSincePlanned(planned);
    for (let attempt = 1; ; attempt++) {
      try {
        // A fresh module still needs its artifact when the output goes elsewhere (detached).
        const action = plan.action === 'fresh' ? 'restore' : plan.action;
        const result = await steps[action].run(ctx, plan);
        if ('stored' in result) return { plan, stored: result.stored, outcome: outcomeOf(action), reason: result.note ?? plan.reason };
        const regenerated = await steps.regenerate.run(ctx, plan);
        if (!('stored' in regenerated)) throw new BtfdError('BTFD_ERR_INTERNAL', `regenerating ${plan.path} declined: ${regenerated.declined}`);
        return { plan, stored: regenerated.stored, outcome: 'regenerated', reason: `${result.declined}; regenerated (${plan.because})` };
      } catch (err) {
        const code = codeOf(err);
        // A regeneration shared with another build that was cancelled: this build still wants it.
        if (code === 'BTFD_ERR_BUILD_CANCELLED' && !ctx.signal?.aborted && attempt < MAX_REPLANS) continue;
        if (code !== 'BTFD_ERR_MODULE_CHANGED' || attempt >= MAX_REPLANS) throw err;
        log.info({ module: plan.path, attempt }, 'module changed under its regeneration; re-planning');
        plan = await cachedSincePlanned(await options.replan(ctx, plan.path));
      }
    }
  }

  /** Install the plan's artifact; returns the module's stamp after the write, noted as btfd's own. */
  async function install(ctx: TreeContext, plan: ModulePlan, stored: StoredArtifact, scope: InstallScope): Promise<FileStamp> {
    const sections = scope === 'artifact' ? stored.artifact.sections : new Map([...stored.artifact.sections].filter(([name]) => PAHOLE_SECTIONS.has(name)));
    // Checked again just before the write: the file may have become a symlink since planning.
    const target = await checkWriteTarget(plan.path, ctx.realTree, 'module');
    // Under the module's lock no write of it is in flight: any temp file of it is a leftover (a
    // fresh module is not written, and keeps the no-op build free of this readdir).
    const swept = await sweepTempFilesOf(target.path);
    if (swept > 0) log.info({ module: plan.path, swept }, 'removed temp files of an interrupted write');
    await installSections(target.path, sections, { resolved: true });
    const after = stampOf(await stat(target.path, { bigint: true }).catch((err: unknown) => {
      throw new BtfdError('BTFD_ERR_MODULE_DELETED', `${plan.path} was deleted just after btfd wrote it`, { cause: err });
    }));
    options.ownWrites.note(plan.path, after);
    return after;
  }

  /** What a module's record keeps of its inputs: the key's, and where the base and flags came from. */
  function recordedInputs(ctx: TreeContext, plan: ModulePlan): Record<string, string> {
    return { ...plan.inputs, basePath: ctx.base, flagsSource: ctx.flags.source };
  }

  function bookFresh(ctx: TreeContext, plan: ModulePlan, countHits: boolean): () => void {
    const now = Date.now();
    return () => {
      store.artifacts.touchNow(plan.key);
      // Finding a module fresh changes nothing: its record keeps the last change and its reason.
      if (plan.previous !== null && plan.previous.outcome !== 'failed') store.modules.checked(plan.path, plan.key, recordedInputs(ctx, plan), now);
      else store.modules.put({ path: plan.path, key: plan.key, inputs: recordedInputs(ctx, plan), outcome: 'fresh', reason: plan.reason, updatedMs: now });
      if (countHits) countHit(plan);
    };
  }

  function countHit(plan: ModulePlan): void {
    store.counters.add('hits');
    store.counters.add('saved_ms', plan.cached?.costMs ?? 0);
  }

  return {
    produce,
    withFileLock: (modulePath, work) => fileLock.withLock(modulePath, work),
    execute(ctx, planned, executeOptions = {}) {
      const { scope = 'artifact', book = (writes: () => void) => store.batch(writes) } = executeOptions;
      const started = performance.now();
      return fileLock.withLock(planned.path, async () => {
        let plan = planned;
        // Containment was checked at planning, and is again just before any write (install).
        const current = stampOf(await stat(plan.path, { bigint: true }));
        if (!sameStamp(current, plan.stamp)) plan = await options.replan(ctx, plan.path);
        if (plan.action === 'fresh') {
          book(bookFresh(ctx, plan, executeOptions.countHits ?? false));
          return { path: plan.path, outcome: 'fresh', reason: plan.reason, ms: Math.round(performance.now() - started) };
        }
        const produced = await produce(ctx, plan);
        const { outcome, reason, stored } = produced;
        plan = produced.plan;
        // The stat cache entry is dated before the write: the digests are what btfd meant to
        // write, so it is trusted only if no write can hide behind the stamp (installSections
        // marks its writes so where the filesystem keeps sub-second times; elsewhere the next
        // build hashes the module).
        const writeStartedMs = Date.now();
        const after = await install(ctx, plan, stored, scope);
        const done = plan;
        book(() => {
          // A partial install leaves outputs btfd did not write: the next plan hashes them.
          if (scope === 'artifact') store.statCache.record(done.path, after, { contentDigest: done.inputs.module, outputsDigest: stored.outputsDigest }, writeStartedMs);
          if (outcome === 'restored') {
            store.artifacts.touchNow(done.key);
            countHit(done);
          }
          store.modules.put({ path: done.path, key: done.key, inputs: recordedInputs(ctx, done), outcome, reason, updatedMs: Date.now() });
        });
        return { path: plan.path, outcome, reason, ms: Math.round(performance.now() - started) };
      });
    },
    bookFresh,
  };
}
