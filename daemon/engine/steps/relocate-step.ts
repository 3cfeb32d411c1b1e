/**
 * relocate: the key is new, but this module's artifact on another base is cached (same content,
 * pahole and flags). A worker rewrites it onto the new base when that is exactly what pahole would
 * write (daemon/btf/relocate.ts) and resolves `.BTF_ids` for it; the result is stored under the new
 * key like pahole's. When the rewrite cannot be shown exact, the step declines with the reasons
 * and the executor regenerates.
 */
import type { Logger } from 'pino';
import type { ArtifactCache } from '../../store/artifact-cache.js';
import type { Counters } from '../../store/counters.js';
import type { BaseSnapshots } from '../../store/base-snapshots.js';
import { encodeArtifact, sectionsDigest, type Artifact } from '../artifact.js';
import type { BaseDiffs } from '../base-diffs.js';
import type { ModuleInputReader } from '../module-inputs.js';
import { shortDigest } from '../planner.js';
import type { WorkerPool } from '../worker-pool.js';
import type { ActionStep } from './action-step.js';

export interface RelocateStepOptions {
  /** Where a relocated artifact is stored (every tier). */
  readonly cache: ArtifactCache;
  /** The local file of a blob: related entries are local, and the worker reads the blob itself. */
  readonly blobPath: (digest: string) => string;
  readonly counters: Counters;
  readonly pool: WorkerPool;
  readonly diffs: BaseDiffs;
  readonly bases: BaseSnapshots;
  readonly inputs: ModuleInputReader;
  readonly log: Logger;
}

function toBuffers(record: Record<string, Uint8Array>): Map<string, Buffer> {
  return new Map(Object.entries(record).map(([name, bytes]) => [name, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]));
}

export function createRelocateStep(options: RelocateStepOptions): ActionStep {
  const { cache, log } = options;
  return {
    async run(ctx, plan) {
      const related = plan.related;
      if (!related) return { declined: 'no artifact on another base' };
      const from = `base ${shortDigest(related.base)}`;
      const diff = await options.diffs.get(related.base, ctx.baseDigest);
      const result = await options.pool.relocate({
        modulePath: plan.path,
        stamp: plan.stamp,
        moduleDigest: plan.inputs.module,
        racy: plan.racy,
        btfIds: await options.inputs.btfIdsHints(ctx, plan.previous),
        artifact: { blob: options.blobPath(related.artifactDigest), digest: related.artifactDigest },
        oldBase: options.bases.pathOf(related.base),
        newBase: ctx.baseSnapshot,
        diff,
      }, ctx.signal);
      if (!result.ok) {
        log.info({ module: plan.path, from: related.base, reasons: result.reasons }, 'relocation refused');
        return { declined: `relocation from ${from} refused: ${result.reasons.join('; ')}` };
      }
      const artifact: Artifact = { inputs: plan.inputs, sections: toBuffers(result.sections) };
      const outputsDigest = sectionsDigest(artifact.sections)!;
      const { tool, flags, base, module } = plan.inputs;
      // What a later hit saves is still pahole's time on this module.
      await cache.put(plan.key, encodeArtifact(artifact), { outputsDigest, inputs: { tool, flags, base, module }, costMs: related.costMs });
      options.counters.add('relocated');
      options.counters.add('saved_ms', related.costMs);
      return { stored: { artifact, outputsDigest }, note: `relocated from ${from} (${plan.because})` };
    },
  };
}
