/**
 * Cache maintenance as the routes offer it: figures (per tier, and zeroing them), LRU gc to a size
 * limit, verify, clear. Maintenance is the local tier's: a team's remote is its server's to evict
 * and clear.
 */
import type { CacheGcResult, CacheStats, CacheVerifyResult } from '../../shared/build-types.js';
import type { RemoteTier } from './remote/remote-tier.js';
import type { Store } from './store.js';

export interface CacheAdmin {
  stats(): CacheStats;
  /** Zero the counters (hits, misses, time saved, corrupt, missing), as `ccache -z`; answers them as they were. */
  zeroStats(): CacheStats;
  /** Evict to `maxBytes`, or to the configured limit. */
  gc(maxBytes?: number): CacheGcResult;
  verify(): CacheVerifyResult;
  clear(): void;
}

/** `remote`: the remote tier, whose live status (breaker, uploads) joins the figures. */
export function createCacheAdmin(store: Store, maxCacheBytes: number, remote: RemoteTier | null = null): CacheAdmin {
  return {
    stats: () => store.stats(maxCacheBytes, remote?.status() ?? null),
    zeroStats() {
      const before = store.stats(maxCacheBytes, remote?.status() ?? null);
      store.counters.zero();
      return before;
    },
    gc: (maxBytes) => store.artifacts.gc(maxBytes ?? maxCacheBytes),
    verify: () => store.artifacts.verify(),
    clear: () => store.clear(),
  };
}
