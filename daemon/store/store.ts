/**
 * The cache dir, opened: one SQLite handle (cache.db) shared by the modules that own its tables —
 * the stat cache, the local artifact cache (with the CAS blob dir), counters, module records and
 * watched-tree registrations — plus the base snapshots. Several stores, in several processes
 * (a daemon and a `--no-daemon` CLI), may share one dir.
 *
 * Self-recovery: a corrupt database (SQLite's quick check fails at open, or any call answers
 * SQLITE_CORRUPT / SQLITE_NOTADB later) is moved aside as `cache.db.corrupt-<time>` and replaced
 * by a fresh one; a failing call is retried once on it. The database is a cache of facts that
 * builds re-derive, and CAS blobs are named by their content, so nothing a build needs is lost —
 * only hits, until the entries are written again. The parts below are facades over the current
 * handle's modules, so callers that kept `store.statCache` see the fresh database too.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { CacheStats, CacheTierStats, RemoteCacheStatus } from '../../shared/build-types.js';
import { BtfdError, fsErrorCode } from '../../shared/errors.js';
import { ensurePrivateDir } from '../../shared/paths.js';
import { createBaseSnapshots, type BaseSnapshots } from './base-snapshots.js';
import { createCas } from './cas.js';
import { createCounters, type Counters } from './counters.js';
import { createGuard, isCorruption, moveDatabaseAside, openDatabase, type Db } from './database.js';
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
  /**
   * Run synchronous store calls as one transaction: one commit instead of one per call (a
   * build's bookkeeping of its fresh modules). Nothing inside may await.
   */
  batch(work: () => void): void;
  /** Close the database; later calls are no-ops, other methods then throw. */
  close(): void;
  /** The last corrupt database this store moved aside, or null. */
  readonly recovery: StoreRecovery | null;
}

/** A corrupt database moved aside and replaced by a fresh one. */
export interface StoreRecovery {
  readonly movedTo: string;
  readonly code: 'BTFD_ERR_CACHE_DB_CORRUPT';
  /** SQLite's words. */
  readonly reason: string;
  readonly atMs: number;
}

/** Recoveries one store makes before it reports corruption instead: a disk that keeps corrupting is not fixed by moving files. */
const MAX_RECOVERIES = 3;

export interface StoreOptions {
  /** Cache dir; created (mode 0700) if missing. */
  readonly dir: string;
  /** Wall clock in ms; injectable so tests control time. Defaults to Date.now. */
  readonly now?: () => number;
  /** Told when a corrupt database was moved aside (at open or later), to log it. */
  readonly onRecovered?: (recovery: StoreRecovery) => void;
}

interface DbParts {
  readonly db: Db;
  readonly statCache: StatCache;
  readonly counters: Counters;
  readonly artifacts: LocalArtifactCache;
  readonly modules: ModuleRecords;
  readonly trees: TreeRegistry;
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
  let recovery: StoreRecovery | null = null;
  let recoveries = 0;
  const moveAside = (err: unknown): void => {
    const reason = err instanceof Error ? err.message : String(err);
    recovery = { movedTo: moveDatabaseAside(file, now()), code: 'BTFD_ERR_CACHE_DB_CORRUPT', reason, atMs: now() };
    recoveries += 1;
    options.onRecovered?.(recovery);
  };
  let parts: { cas: ReturnType<typeof createCas>; bases: BaseSnapshots };
  let opened: Db;
  try {
    // A cache dir that cannot be made (a file in the way, no permission) is an unavailable cache;
    // one that exists but is not private is the home's insecurity (ensurePrivateDir says which).
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    ensurePrivateDir(dir);
    parts = { cas: createCas(path.join(dir, 'cas')), bases: createBaseSnapshots(path.join(dir, 'bases')) };
    try {
      opened = openDatabase(file);
    } catch (err) {
      if (!isCorruption(err)) throw err;
      moveAside(err);
      opened = openDatabase(file);
    }
  } catch (err) {
    if (err instanceof BtfdError) throw err;
    const detail = err instanceof Error ? err.message : String(err);
    throw new BtfdError(fsErrorCode(err) ?? 'BTFD_ERR_CACHE_UNAVAILABLE', `cannot open cache database ${file}: ${detail}`, { cause: err });
  }
  let closed = false;
  const guarded = createGuard(dir, () => closed);
  const build = (db: Db): DbParts => {
    const counters = createCounters(db, guarded);
    return {
      db,
      statCache: createStatCache(db, guarded, now),
      counters,
      artifacts: createLocalArtifactCache(db, parts.cas, counters, guarded, now),
      modules: createModuleRecords(db, guarded),
      trees: createTreeRegistry(db, guarded),
    };
  };
  let current = build(opened);
  let generation = 0;

  /** Replace a corrupt database under a running store; false when this store has given up. */
  const recover = (err: unknown, seenGeneration: number): boolean => {
    if (closed) return false;
    // Another call already replaced the handle this one failed on.
    if (seenGeneration !== generation) return true;
    if (recoveries >= MAX_RECOVERIES) return false;
    try {
      current.db.close();
      moveAside(err);
      current = build(openDatabase(file));
      generation += 1;
      return true;
    } catch {
      return false;
    }
  };
  /** Run `fn` on the current parts; on corruption, recover and run it once more. */
  const recovering = <R>(fn: (p: DbParts) => R): R => {
    const seen = generation;
    const giveUp = (err: unknown): never => {
      throw new BtfdError('BTFD_ERR_CACHE_DB_CORRUPT', `cache database ${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    };
    const retry = (err: unknown): R => {
      if (!isCorruption(err)) throw err;
      if (!recover(err, seen)) giveUp(err);
      return fn(current);
    };
    let result: R;
    try {
      result = fn(current);
    } catch (err) {
      return retry(err);
    }
    if (result instanceof Promise) return result.catch(retry) as R;
    return result;
  };
  /** A facade whose methods always reach the current database's module. */
  const facade = <K extends Exclude<keyof DbParts, 'db'>>(key: K): DbParts[K] =>
    new Proxy({} as DbParts[K], {
      get(_target, property) {
        const value: unknown = Reflect.get(current[key], property);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => recovering((p) => Reflect.apply(Reflect.get(p[key], property) as (...a: unknown[]) => unknown, p[key], args));
      },
    });
  const statCache = facade('statCache');
  const counters = facade('counters');
  const artifacts = facade('artifacts');
  return {
    dir,
    statCache,
    artifacts,
    counters,
    modules: facade('modules'),
    trees: facade('trees'),
    bases: parts.bases,
    get recovery() {
      return recovery;
    },
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
    batch(work) {
      recovering((p) => guarded('store batch', () => {
        p.db.transaction(work)();
      }));
    },
    clear() {
      recovering((p) => guarded('cache clear', () => {
        p.db.transaction(() => {
          p.artifacts.clear();
          p.statCache.clear();
          p.modules.clear();
          p.counters.zero();
        }).immediate();
      }));
    },
    close() {
      if (closed) return;
      closed = true;
      current.db.close();
    },
  };
}
