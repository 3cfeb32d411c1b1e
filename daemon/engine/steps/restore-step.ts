/**
 * restore: the key is cached (in the local tier, or a remote one); its artifact is loaded and
 * checked before it may be installed. The blob names its own inputs, so whatever entry points at
 * it, an artifact made from other inputs than the plan's is refused, and so is one whose `.BTF`
 * does not fit the plan's base. A refused or corrupt entry is dropped (a remote one is never
 * written back), and the executor regenerates.
 */
import type { Logger } from 'pino';
import { BtfdError } from '../../../shared/errors.js';
import { parseBtf } from '../../btf/btf-reader.js';
import { checkSplitFitsBase } from '../../btf/split-check.js';
import type { ArtifactCache } from '../../store/artifact-cache.js';
import { decodeArtifact, sameInputs, sectionsDigest } from '../artifact.js';
import type { BaseView } from '../module-btf-ids.js';
import type { ActionStep, StepResult, StoredArtifact } from './action-step.js';

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
      const found = plan.cached;
      if (!found) return { declined: 'no cache entry' };
      // The cache re-hashes the blob first; this checks what the hash cannot: that it is the
      // plan's artifact and fits the plan's base. A refused blob is dropped, never installed.
      const stored = await cache.load(plan.key, found, async (blob): Promise<StoredArtifact | null> => {
        try {
          const artifact = decodeArtifact(blob);
          const outputs = sectionsDigest(artifact.sections);
          if (!sameInputs(artifact.inputs, plan.inputs) || outputs !== found.outputsDigest) {
            throw new BtfdError('BTFD_ERR_CACHE_CORRUPT', 'the cache entry names an artifact of other inputs');
          }
          const distilled = artifact.sections.get('.BTF.base');
          const base = distilled ? parseBtf(distilled, null, 'artifact .BTF.base') : (await options.baseView(ctx.baseSnapshot)).btf;
          checkSplitFitsBase(artifact.sections.get('.BTF')!, base, 'the cached .BTF');
          return { artifact, outputsDigest: outputs };
        } catch (err) {
          log.error({ module: plan.path, digest: found.artifactDigest, key: plan.key, tier: found.tier, err }, 'cache entry unusable; discarded, not installed');
          return null;
        }
      });
      if (!stored) {
        log.warn({ module: plan.path, digest: found.artifactDigest, tier: found.tier }, 'cache blob missing, corrupt or refused; regenerating');
        return { declined: found.tier === 'local' ? 'cache entry was unusable' : `${found.tier} cache entry was unusable` };
      }
      return { stored };
    },
  };
}
