/**
 * restore: the key is cached; its artifact is read and checked before it may be installed. The
 * blob names its own inputs, so whatever entry points at it, an artifact made from other inputs
 * than the plan's is refused, and so is one whose `.BTF` does not fit the plan's base. A refused
 * or corrupt entry is discarded, and the executor regenerates.
 */
import type { Logger } from 'pino';
import { BtfdError } from '../../../shared/errors.js';
import { parseBtf } from '../../btf/btf-reader.js';
import { checkSplitFitsBase } from '../../btf/split-check.js';
import type { ArtifactCache } from '../../store/artifact-cache.js';
import { decodeArtifact, sameInputs, sectionsDigest } from '../artifact.js';
import type { BaseView } from '../module-btf-ids.js';
import type { ActionStep, StepResult } from './action-step.js';

export interface RestoreStepOptions {
  readonly cache: ArtifactCache;
  /** The parsed base of a snapshot (kept for the last few bases). */
  readonly baseView: (snapshot: string) => Promise<BaseView>;
  readonly log: Logger;
}

export function createRestoreStep(options: RestoreStepOptions): ActionStep {
  const { cache, log } = options;
  return {
    async run(ctx, plan): Promise<StepResult> {
      if (!plan.cached) return { declined: 'no cache entry' };
      const blob = await cache.read(plan.cached.artifactDigest);
      if (!blob) {
        log.warn({ module: plan.path, digest: plan.cached.artifactDigest }, 'cache blob missing or corrupt; regenerating');
        return { declined: 'cache entry was unusable' };
      }
      try {
        const artifact = decodeArtifact(blob);
        const outputs = sectionsDigest(artifact.sections);
        if (!sameInputs(artifact.inputs, plan.inputs) || outputs !== plan.cached.outputsDigest) {
          throw new BtfdError('BTFD_ERR_CACHE_CORRUPT', 'the cache entry names an artifact of other inputs');
        }
        const distilled = artifact.sections.get('.BTF.base');
        const base = distilled ? parseBtf(distilled, null, 'artifact .BTF.base') : (await options.baseView(ctx.baseSnapshot)).btf;
        checkSplitFitsBase(artifact.sections.get('.BTF')!, base, 'the cached .BTF');
        return { stored: { artifact, outputsDigest: outputs } };
      } catch (err) {
        log.error({ module: plan.path, digest: plan.cached.artifactDigest, key: plan.key, err }, 'cache entry unusable; discarded, not installed');
        await cache.discard(plan.cached.artifactDigest);
        return { declined: 'cache entry was unusable' };
      }
    },
  };
}
