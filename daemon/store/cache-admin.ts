/** Cache maintenance as the routes offer it: figures (and zeroing them), LRU gc to a size limit, verify, clear. */
import type { CacheGcResult, CacheStats, CacheVerifyResult } from '../../shared/build-types.js';
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

export function createCacheAdmin(store: Store, maxCacheBytes: number): CacheAdmin {
  return {
    stats: () => store.stats(maxCacheBytes),
    zeroStats() {
      const before = store.stats(maxCacheBytes);
      store.counters.zero();
      return before;
    },
    gc: (maxBytes) => store.artifacts.gc(maxBytes ?? maxCacheBytes),
    verify: () => store.artifacts.verify(),
    clear: () => store.clear(),
  };
}
