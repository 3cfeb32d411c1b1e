/**
 * A build's bookkeeping: the store writes that record what happened to each module (its outcome,
 * its stamp, its cache entry's last use, the hit counters), committed in batches (Store.batch)
 * instead of five commits a module, which cost more than the rest of a no-op build. A batch
 * commits once it holds BATCH_MODULES modules or is BATCH_MS old, and when the build ends, so
 * `btfd status` stays current within a fraction of a second. Bookkeeping lost to a crash or a
 * failed commit costs a re-hash of those modules next time, never a wrong answer: the cache
 * entries themselves are committed before any module is written (see executor.ts).
 */
import type { Logger } from 'pino';
import type { Store } from '../store/store.js';

const BATCH_MODULES = 256;
const BATCH_MS = 500;

export interface Bookkeeping {
  /** Queue one module's writes (synchronous store calls). */
  book(writes: () => void): void;
  /** Commit what is queued. */
  commit(): void;
}

export function createBookkeeping(store: Store, log: Logger): Bookkeeping {
  let queued: (() => void)[] = [];
  let oldest = 0;
  function commit(): void {
    if (queued.length === 0) return;
    const batch = queued;
    queued = [];
    try {
      store.batch(() => {
        for (const writes of batch) writes();
      });
    } catch (err) {
      log.warn({ err, modules: batch.length }, 'could not record the bookkeeping of these modules; the next build hashes them again');
    }
  }
  return {
    book(writes) {
      if (queued.length === 0) oldest = Date.now();
      queued.push(writes);
      if (queued.length >= BATCH_MODULES || Date.now() - oldest >= BATCH_MS) commit();
    },
    commit,
  };
}
