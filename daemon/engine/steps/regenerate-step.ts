/**
 * regenerate: pahole encodes the module in a worker (once per key, however many modules share
 * it), `.BTF_ids` is resolved for the result, and the artifact is stored before anyone installs
 * it. The worker answers BTFD_ERR_MODULE_CHANGED unless the module it read is the one planned, so
 * nothing is stored under inputs it was not computed from.
 */
import type { Logger } from 'pino';
import { BtfdError } from '../../../shared/errors.js';
import type { ArtifactCache } from '../../store/artifact-cache.js';
import type { Counters } from '../../store/counters.js';
import type { RegenerateTask } from '../../workers/module-worker-types.js';
import { encodeArtifact, sectionsDigest, type Artifact } from '../artifact.js';
import type { ModuleInputReader } from '../module-inputs.js';
import { paholeArgs } from '../pahole-flags.js';
import { createSingleFlight } from '../single-flight.js';
import type { WorkerPool } from '../worker-pool.js';
import type { ActionStep, StoredArtifact } from './action-step.js';
import type { TreeContext } from '../context.js';
import type { ModulePlan } from '../planner.js';

export interface RegenerateStepOptions {
  readonly cache: ArtifactCache;
  readonly counters: Counters;
  readonly pool: WorkerPool;
  readonly inputs: ModuleInputReader;
  /** Private scratch dir (inside btfd's cache dir). */
  readonly tmpRoot: string;
  /** objcopy for pahole's LLVM_OBJCOPY, as kbuild passes it. */
  readonly objcopy: string;
  /** pahole's wall time on one module. */
  readonly timeoutMs: number;
  /** The engine's stop flag: running paholes are killed once it is raised. */
  readonly stopFlag: Int32Array;
  readonly log: Logger;
  /** Called after a regeneration is planned and before the worker pool gets it (tests). */
  readonly beforeRegenerate?: (modulePath: string) => Promise<void> | void;
}

function toBuffers(record: Record<string, Uint8Array>): Map<string, Buffer> {
  return new Map(Object.entries(record).map(([name, bytes]) => [name, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]));
}

/**
 * A shared regeneration's failure, told to a module that joined it: named after this module, with
 * the one pahole ran on (its twin, same key) and the same code.
 */
function joinedFailure(err: unknown, modulePath: string, leader: string): never {
  if (modulePath === leader || !(err instanceof BtfdError)) throw err;
  throw new BtfdError(err.code, `${modulePath}: its twin ${leader} (same content, same key) was regenerated for it and failed: ${err.message}`, { cause: err });
}

export function createRegenerateStep(options: RegenerateStepOptions): ActionStep {
  const flight = createSingleFlight<StoredArtifact>();
  /** The module each running flight regenerates, for the modules that join it. */
  const leaders = new Map<string, string>();

  /** Run pahole on the plan's module and store the artifact under its key. */
  async function regenerate(ctx: TreeContext, plan: ModulePlan): Promise<StoredArtifact> {
    const task: RegenerateTask = {
      modulePath: plan.path,
      stamp: plan.stamp,
      moduleDigest: plan.inputs.module,
      racy: plan.racy,
      baseSnapshot: ctx.baseSnapshot,
      btfIds: await options.inputs.btfIdsHints(ctx, plan.previous),
      paholePath: ctx.tool.path,
      flags: paholeArgs(ctx.flags.flags),
      tmpRoot: options.tmpRoot,
      objcopy: options.objcopy,
      timeoutMs: options.timeoutMs,
      stopFlag: options.stopFlag,
    };
    await options.beforeRegenerate?.(plan.path);
    const result = await options.pool.regenerate(task, ctx.signal);
    for (const warning of result.warnings) options.log.warn({ module: plan.path, warning }, 'resolve_btfids warning');
    const artifact: Artifact = { inputs: plan.inputs, sections: toBuffers(result.sections) };
    const outputsDigest = sectionsDigest(artifact.sections)!;
    const { tool, flags, base, module } = plan.inputs;
    await options.cache.put(plan.key, encodeArtifact(artifact), { outputsDigest, inputs: { tool, flags, base, module }, costMs: result.ms });
    options.counters.add('misses');
    return { artifact, outputsDigest };
  }

  return {
    run: async (ctx, plan) => {
      // The module of the flight this one joins, or this one, which starts a flight.
      const leader = leaders.get(plan.key) ?? plan.path;
      const stored = await flight.run(plan.key, async () => {
        leaders.set(plan.key, plan.path);
        try {
          return await regenerate(ctx, plan);
        } finally {
          leaders.delete(plan.key);
        }
      }).catch((err: unknown) => joinedFailure(err, plan.path, leader));
      return { stored };
    },
  };
}
