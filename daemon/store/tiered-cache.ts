/**
 * The tiered artifact cache the engine talks to: the local tier first, a remote tier behind it,
 * composed the way ccache's Storage::get does.
 *
 * - lookup: local; on a local miss, the remote (its entry counts only with its blob there).
 * - load: from the tier that holds the entry. A remote blob is re-hashed by the remote tier, then
 *   given to the engine's check (accept); only an accepted blob is written back to the local
 *   tier, so the next build restores it locally. A refused one is counted and forgotten.
 * - put: local first (the build's own commit point), then queued for upload in the background;
 *   the build never waits on the remote.
 * - Remote failures never reach the caller: they arrive here as misses (remote-tier.ts).
 *
 * Figures per tier go to the store's counters: hits (artifacts restored from the tier), misses
 * (lookups it could not answer), bytes read and written; the remote tier adds its errors, skips
 * and corrupt entries itself.
 */
import type { Logger } from 'pino';
import type { ArtifactCache, FoundAction } from './artifact-cache.js';
import type { Counters } from './counters.js';
import type { LocalArtifactCache } from './local-cache.js';
import type { RemoteTier } from './remote/remote-tier.js';

export interface TieredCacheOptions {
  readonly local: LocalArtifactCache;
  readonly counters: Counters;
  /** The remote tier, or null for a local cache only. */
  readonly remote: RemoteTier | null;
  readonly log: Logger;
}

export function createTieredCache(options: TieredCacheOptions): ArtifactCache {
  const { local, counters, remote, log } = options;
  return {
    async lookup(key, lookupOptions = {}) {
      const tally = lookupOptions.tally ?? true;
      const hit = await local.lookup(key);
      if (hit !== null) return hit;
      if (tally) counters.add('local_misses');
      if (remote === null) return null;
      const found = await remote.lookup(key, tally);
      return found === null ? null : { ...found, tier: 'remote' };
    },

    touch: (key) => local.touch(key),

    async load<T>(key: string, found: FoundAction, accept: (blob: Buffer) => Promise<T | null>): Promise<T | null> {
      if (found.tier === 'local') {
        return local.load(key, found, async (blob) => {
          const value = await accept(blob);
          if (value !== null) {
            counters.add('local_hits');
            counters.add('local_bytes_read', blob.length);
          }
          return value;
        });
      }
      if (remote === null) return null;
      const blob = await remote.fetch(found);
      if (blob === null) return null;
      const value = await accept(blob);
      if (value === null) {
        remote.refused(key, found);
        return null;
      }
      await local.put(key, blob, { outputsDigest: found.outputsDigest, inputs: found.inputs, costMs: found.costMs });
      counters.add('remote_hits');
      counters.add('local_bytes_written', blob.length);
      log.debug({ key, digest: found.artifactDigest, location: remote.location }, 'remote hit written back to the local cache');
      return value;
    },

    async put(key, blob, meta) {
      const digest = await local.put(key, blob, meta);
      counters.add('local_bytes_written', blob.length);
      remote?.upload(key, blob, digest, meta);
      return digest;
    },

    related: (inputs) => local.related(inputs),
  };
}
