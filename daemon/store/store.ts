/**
 * The cache dir, opened: one SQLite handle (cache.db) shared by the modules that own its tables —
 * the stat cache, the local artifact cache (with the CAS blob dir), counters, module records and
 * watched-tree registrations — plus the base snapshots. Several stores, in several processes
 * (a daemon and a `--no-daemon` CLI), may share one dir.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { CacheStats, CacheTierStats, RemoteCacheStatus } from '../../shared/build-types.js';
import { BtfdError } from '../../shared/errors.js';
import { ensurePrivateDir } from '../../shared/paths.js';
import { createBaseSnapshots, type BaseSnapshots } from './base-snapshots.js';
import { createCas } from './cas.js';
import { createCounters, type Counters } from './counters.js';
import { createGuard, openDatabase, type Db } from './database.js';
import { createLocalArtifactCache, type LocalArtifactCache } from './local-cache.js';
import { createModuleRecords, type ModuleRecords } from './module-records.js';
import { createStatCache, type StatCache } from './stat-cache.js';
import { createTreeRegistry, type TreeRegistry } from './tree-registry.js';

export interface Store {
  /** The cache dir this store was opened on. */
  readonly dir: string;
  readonly statCache: StatCache;
  readonly artifacts: LocalArtifactCache;
  readonly counters: Counters;
  readonly modules: ModuleRecords;
  readonly trees: TreeRegistry;
  readonly bases: BaseSnapshots;
  /**
   * Totals and counters for `btfd cache stats`, against a size limit, split by tier: the remote
   * tier's figures are included when its live status is given (a remote is configured).
   */
  stats(maxBytes: number, remote?: RemoteCacheStatus | null): CacheStats;
  /** Empty the cache: entries, blobs, the stat cache, module records and counters. */
  clear(): void;
  /** Close the database; later calls are no-ops, other methods then throw. */
  close(): void;
}

export interface StoreOptions {
  /** Cache dir; created (mode 0700) if missing. */
  readonly dir: string;
  /** Wall clock in ms; injectable so tests control time. Defaults to Date.now. */
  readonly now?: () => number;
}

/** The share of lookups the cache answered as it was (`others`: relocated or encoded); null before the first one. */
function hitRate(hits: number, others: number): number | null {
  const lookups = hits + others;
  return lookups === 0 ? null : hits / lookups;
}

/**
 * Open the store in `options.dir` (`cache.db`, `cas/`, `bases/`), creating and migrating it.
 * @throws BtfdError BTFD_ERR_CACHE_UNAVAILABLE when the dir or database cannot be opened, the
 *   database is not SQLite, or it was written by a newer btfd.
 */
export function openStore(options: StoreOptions): Store {
  const dir = path.resolve(options.dir);
  const now = options.now ?? Date.now;
  const file = path.join(dir, 'cache.db');
  let db: Db;
  let parts: { cas: ReturnType<typeof createCas>; bases: BaseSnapshots };
  try {
    // A cache dir that cannot be made (a file in the way, no permission) is an unavailable cache;
    // one that exists but is not private is the home's insecurity (ensurePrivateDir says which).
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    ensurePrivateDir(dir);
    parts = { cas: createCas(path.join(dir, 'cas')), bases: createBaseSnapshots(path.join(dir, 'bases')) };
    db = openDatabase(file);
  } catch (err) {
    if (err instanceof BtfdError) throw err;
    const detail = err instanceof Error ? err.message : String(err);
    throw new BtfdError('BTFD_ERR_CACHE_UNAVAILABLE', `cannot open cache database ${file}: ${detail}`, { cause: err });
  }
  let closed = false;
  const guarded = createGuard(dir, () => closed);
  const statCache = createStatCache(db, guarded, now);
  const counters = createCounters(db, guarded);
  const artifacts = createLocalArtifactCache(db, parts.cas, counters, guarded, now);
  const modules = createModuleRecords(db, guarded);
  return {
    dir,
    statCache,
    artifacts,
    counters,
    modules,
    trees: createTreeRegistry(db, guarded),
    bases: parts.bases,
    stats(maxBytes, remote = null) {
      const totals = artifacts.totals();
      const c = counters.read();
      const local: CacheTierStats = {
        tier: 'local', hits: c.local_hits, misses: c.local_misses, errors: c.missing, skipped: 0, corrupt: c.corrupt,
        bytesRead: c.local_bytes_read, bytesWritten: c.local_bytes_written,
      };
      const remoteTier: CacheTierStats = {
        tier: 'remote', hits: c.remote_hits, misses: c.remote_misses, errors: c.remote_errors, skipped: c.remote_skipped, corrupt: c.remote_corrupt,
        bytesRead: c.remote_bytes_read, bytesWritten: c.remote_bytes_written,
      };
      return {
        ...totals, maxBytes, hits: c.hits, misses: c.misses, relocated: c.relocated, hitRate: hitRate(c.hits, c.relocated + c.misses),
        savedMs: c.saved_ms, files: statCache.count(), corrupt: c.corrupt, missing: c.missing,
        tiers: remote === null ? [local] : [local, remoteTier],
        remote,
      };
    },
    clear() {
      guarded('cache clear', () => {
        db.transaction(() => {
          artifacts.clear();
          statCache.clear();
          modules.clear();
          counters.zero();
        }).immediate();
      });
    },
    close() {
      if (closed) return;
      closed = true;
      db.close();
    },
  };
}
