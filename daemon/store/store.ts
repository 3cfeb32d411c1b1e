/**
 * The cache store: an action cache (key → artifact digest) and a stat cache in SQLite, artifacts
 * in a content-addressed blob dir beside it. This module owns every SQL string in btfd.
 *
 * Invariants, and why:
 * - A blob file is written and fsynced before the row that names it; the row is the commit point.
 *   A crash in between leaves an orphan file (gc/verify remove it), never a row without a blob.
 * - Writers that delete files (gc, verify, clear, readBlob's cleanup) hold SQLite's write lock
 *   (IMMEDIATE transactions) while they delete, and putArtifact re-checks its blob under the same
 *   lock before committing its row. So another process (a daemon and a `--no-daemon` CLI share the
 *   dir) can never commit a row for a blob that a concurrent sweep is removing.
 * - Every blob read is verified against its digest; a bad blob is a miss that removes the file
 *   and every row naming it, so the caller regenerates.
 * - The stat cache trusts an entry only when the file's mtime and ctime are older than the moment
 *   it was recorded by more than {@link RACY_WINDOW_NS} (git's "racily clean" rule): a write landing
 *   in the same timestamp tick as the hash would otherwise go unseen.
 */

import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { BtfdError } from '../../shared/errors.js';
import { type Cas, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, createCas, isDigest, sha256Hex } from './cas.js';
import { migrate } from './schema.js';

/** Default cap on total blob bytes for gc: 2 GiB. */
export const DEFAULT_MAX_CACHE_BYTES = 2 * 1024 * 1024 * 1024;
/** How long SQLite waits for another process's write lock before giving up. */
export const BUSY_TIMEOUT_MS = 5000;
/**
 * Timestamp granularity assumed for the racy-stat guard. 1 s covers coarse filesystems (ext3,
 * some network and FAT mounts); on fine-grained ones it only costs one extra hash of a file
 * recorded within a second of its last change.
 */
export const RACY_WINDOW_NS = 1_000_000_000n;
/** A temp blob file older than this is a leftover of a dead writer, not a write in progress. */
export const STALE_TEMP_MS = 10 * 60 * 1000;

/**
 * The stat fields that identify a file version, as `fs.statSync(p, { bigint: true })` gives them.
 * All must match for a stat cache hit.
 */
export interface StatKey {
  dev: bigint | number;
  ino: bigint | number;
  size: bigint | number;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

/** What the stat cache remembers about a file's content. */
export interface FileDigests {
  /** Digest of the file's content as the engine defines it (for a module: excluding output sections). */
  contentDigest: string;
  /** Digest of the file's current output sections, or null when it has none. */
  outputsDigest: string | null;
}

/** The last key and verdict for one module, for `btfd explain` and `btfd modules`. */
export interface ModuleRecord {
  path: string;
  key: string;
  /** Each key input's name → its digest or value. */
  inputs: Record<string, string>;
  outcome: string;
  reason: string;
  updatedMs: number;
}

/** What an action row says besides its key. */
export interface CachedAction {
  /** The blob holding the artifact. */
  artifactDigest: string;
  /** The digest of the artifact's sections alone: a module holding exactly these is fresh. */
  outputsDigest: string;
  costMs: number;
}

/** What is recorded with a new artifact. */
export interface ActionMeta {
  outputsDigest: string;
  /** The key's input digests (tool, flags, base, module), recorded to find related artifacts. */
  inputs: { tool: string; flags: string; base: string; module: string };
  /** What producing it cost: the time a hit saves. */
  costMs: number;
}

/** Cache totals for `btfd cache stats`. */
export interface CacheStats {
  /** Action cache rows. */
  entries: number;
  /** Blob rows. */
  blobs: number;
  /** Total bytes of the blobs. */
  bytes: number;
  /** The gc limit this store was opened with. */
  maxBytes: number;
  hits: number;
  misses: number;
  /** Sum of the cost of the work hits avoided. */
  savedMs: number;
  /** Stat cache rows. */
  files: number;
  /** Blobs dropped because their content failed the digest check. */
  corrupt: number;
  /** Blobs dropped because their file had disappeared. */
  missing: number;
}

/** What {@link Store.gc} removed. */
export interface GcResult {
  /** Action rows evicted or dropped. */
  removedEntries: number;
  /** Bytes of blob files deleted (evicted, unreferenced and orphan blobs). */
  removedBytes: number;
}

/** What {@link Store.verify} found (everything it reports it has also removed). */
export interface VerifyResult {
  /** Blobs re-hashed. */
  checked: number;
  /** Digests whose file content did not match. */
  corrupt: string[];
  /** Digests named by rows whose file was gone. */
  missing: string[];
  /** Blob files (and stale temp files) no row named. */
  orphans: number;
}

/** A tree the daemon watches: its dir, and the base and flags given when it was registered. */
export interface TreeRegistration {
  readonly dir: string;
  readonly base: string | null;
  readonly flags: string | null;
  readonly createdMs: number;
}

/** The cache store. Methods are synchronous; failures are BtfdError BTFD_ERR_CACHE_UNAVAILABLE. */
export interface Store {
  /** The cache dir this store was opened on. */
  readonly dir: string;
  /** Digests recorded for `path` if `stat` still matches and the entry is not racy, else null. */
  lookupFile(path: string, stat: StatKey): FileDigests | null;
  /** Remember the digests of `path` as it was when `stat` was taken (stat before hashing). */
  recordFile(path: string, stat: StatKey, digests: FileDigests): void;
  forgetFile(path: string): void;
  /** The artifact cached for `key`, bumping its last use; null on a miss. */
  getAction(key: string): CachedAction | null;
  /** The same, without touching anything. */
  peekAction(key: string): CachedAction | null;
  /** Where a blob's file is (whether or not it exists); readers must verify its digest. */
  blobPath(digest: string): string;
  /** Store `artifact` as a blob, then map `key` to it; returns the artifact's sha256. */
  putArtifact(key: string, artifact: Buffer, meta: ActionMeta): string;
  /**
   * A blob's bytes, verified against `digest`. A missing or corrupt blob returns null after its
   * file and every row naming it are removed (and counted).
   */
  readBlob(digest: string): Buffer | null;
  /** Remove a blob that must not be used and every row naming it (counted as corrupt). */
  discardBlob(digest: string): void;
  recordHit(savedMs: number): void;
  recordMiss(): void;
  recordModule(rec: ModuleRecord): void;
  getModule(path: string): ModuleRecord | null;
  /** Module records whose path starts with `prefix` (a plain string prefix), sorted by path. */
  listModules(prefix?: string): ModuleRecord[];
  /** Register (or update) a watched tree. */
  putTree(tree: TreeRegistration): void;
  /** Forget a watched tree; true when it was registered. */
  removeTree(dir: string): boolean;
  /** Every registered tree, sorted by dir. */
  listTrees(): TreeRegistration[];
  stats(): CacheStats;
  /** Evict actions least recently used first until blob bytes <= maxBytes; also drops orphans. */
  gc(maxBytes?: number): GcResult;
  /** Re-hash every blob; drop bad ones and their rows; delete orphan blob files. */
  verify(): VerifyResult;
  /** Remove every row and blob. */
  clear(): void;
  /** Close the database; later calls are no-ops, other methods then throw. */
  close(): void;
}

/** Options for {@link openStore}. */
export interface StoreOptions {
  /** Cache dir; created (mode 0700) if missing. */
  dir: string;
  /** Default gc limit in bytes ({@link DEFAULT_MAX_CACHE_BYTES} when absent). */
  maxBytes?: number;
  /** Wall clock in ms; injectable so tests control time. Defaults to Date.now. */
  now?: () => number;
}

interface FileRow {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtime_ns: bigint;
  ctime_ns: bigint;
  recorded_ns: bigint;
  content_digest: string;
  outputs_digest: string | null;
}

interface ModuleRow {
  path: string;
  key: string;
  inputs_json: string;
  outcome: string;
  reason: string;
  updated_ms: bigint;
}

interface DigestSize {
  digest: string;
  size: bigint;
}

/** SQLite INTEGER is signed 64-bit; st_dev/st_ino are unsigned 64-bit, so store their bit pattern. */
function toInt64(value: bigint | number): bigint {
  return BigInt.asIntN(64, BigInt(value));
}

function checkMaxBytes(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new BtfdError('BTFD_ERR_CONFIG_INVALID', `${name} must be a non-negative integer number of bytes, got ${String(value)}`);
  }
  return value;
}

function parseInputs(json: string): Record<string, string> {
  try {
    const value: unknown = JSON.parse(json);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return {};
    const out: Record<string, string> = {};
    for (const [name, v] of Object.entries(value)) if (typeof v === 'string') out[name] = v;
    return out;
  } catch {
    return {};
  }
}

function toModuleRecord(row: ModuleRow): ModuleRecord {
  return {
    path: row.path,
    key: row.key,
    inputs: parseInputs(row.inputs_json),
    outcome: row.outcome,
    reason: row.reason,
    updatedMs: Number(row.updated_ms),
  };
}

/** Turn an I/O or SQLite failure into the catalog's cache error; leave programming errors alone. */
function toCacheError(err: unknown, what: string): unknown {
  if (err instanceof BtfdError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (err instanceof Database.SqliteError || typeof code === 'string') {
    const detail = err instanceof Error ? err.message : String(err);
    return new BtfdError('BTFD_ERR_CACHE_UNAVAILABLE', `${what}: ${detail}`, { cause: err });
  }
  return err;
}

function prepareDir(dir: string): void {
  const created = fs.mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (created !== undefined) fs.chmodSync(dir, PRIVATE_DIR_MODE);
}

function openDatabase(file: string): Database.Database {
  // Create the file ourselves so it (and the -wal/-shm files SQLite derives from it) is private.
  fs.closeSync(fs.openSync(file, 'a', PRIVATE_FILE_MODE));
  const db = new Database(file, { timeout: BUSY_TIMEOUT_MS });
  try {
    const mode: unknown = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') throw new Error(`journal_mode is ${String(mode)}, not wal`);
    // In WAL mode NORMAL never corrupts the database; a power cut may lose the last commits,
    // which for a cache is only a miss.
    db.pragma('synchronous = NORMAL');
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    migrate(db, file);
    // ns timestamps exceed 2^53: read every INTEGER as bigint and convert where it is safe.
    db.defaultSafeIntegers(true);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/**
 * Open the cache store in `options.dir` (`cache.db` plus `cas/`), creating and migrating it as
 * needed. Several stores (in several processes) may share one dir.
 *
 * @throws BtfdError BTFD_ERR_CACHE_UNAVAILABLE when the dir or database cannot be opened, the
 *   database is not SQLite, or it was written by a newer btfd.
 * @throws BtfdError BTFD_ERR_CONFIG_INVALID when `maxBytes` is not a non-negative integer.
 */
export function openStore(options: StoreOptions): Store {
  const dir = path.resolve(options.dir);
  const defaultMaxBytes = checkMaxBytes(options.maxBytes ?? DEFAULT_MAX_CACHE_BYTES, 'options.maxBytes');
  const now = options.now ?? Date.now;
  const file = path.join(dir, 'cache.db');

  let db: Database.Database;
  let cas: Cas;
  try {
    prepareDir(dir);
    cas = createCas(path.join(dir, 'cas'));
    db = openDatabase(file);
  } catch (err) {
    if (err instanceof BtfdError) throw err;
    const detail = err instanceof Error ? err.message : String(err);
    throw new BtfdError('BTFD_ERR_CACHE_UNAVAILABLE', `cannot open cache database ${file}: ${detail}`, { cause: err });
  }

  const nowMs = (): bigint => BigInt(Math.trunc(now()));

  const sql = {
    fileGet: db.prepare<[string], FileRow>(
      `SELECT dev, ino, size, mtime_ns, ctime_ns, recorded_ns, content_digest, outputs_digest
         FROM files WHERE path = ?`,
    ),
    filePut: db.prepare<[string, bigint, bigint, bigint, bigint, bigint, bigint, string, string | null]>(
      `INSERT INTO files (path, dev, ino, size, mtime_ns, ctime_ns, recorded_ns, content_digest, outputs_digest)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (path) DO UPDATE SET
         dev = excluded.dev, ino = excluded.ino, size = excluded.size,
         mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns, recorded_ns = excluded.recorded_ns,
         content_digest = excluded.content_digest, outputs_digest = excluded.outputs_digest`,
    ),
    fileDelete: db.prepare<[string]>(`DELETE FROM files WHERE path = ?`),
    // One statement both reads and bumps, so a hit is a single write; last use never goes back.
    // Rows of an older key schema have no outputs digest; they can never be asked for again.
    actionUse: db.prepare<[bigint, string], { artifact_digest: string; outputs_digest: string; cost_ms: bigint }>(
      `UPDATE actions SET last_used_ms = max(last_used_ms, ?) WHERE key = ? AND outputs_digest IS NOT NULL
       RETURNING artifact_digest, outputs_digest, cost_ms`,
    ),
    actionPeek: db.prepare<[string], { artifact_digest: string; outputs_digest: string; cost_ms: bigint }>(
      `SELECT artifact_digest, outputs_digest, cost_ms FROM actions WHERE key = ? AND outputs_digest IS NOT NULL`,
    ),
    actionPut: db.prepare<[string, string, bigint, bigint, bigint, string, string, string, string, string]>(
      `INSERT INTO actions (key, artifact_digest, created_ms, last_used_ms, cost_ms, outputs_digest, tool, flags, base, module)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET
         created_ms = CASE WHEN artifact_digest = excluded.artifact_digest THEN created_ms ELSE excluded.created_ms END,
         artifact_digest = excluded.artifact_digest,
         last_used_ms = max(last_used_ms, excluded.last_used_ms),
         cost_ms = excluded.cost_ms,
         outputs_digest = excluded.outputs_digest,
         tool = excluded.tool, flags = excluded.flags, base = excluded.base, module = excluded.module`,
    ),
    actionDelete: db.prepare<[string]>(`DELETE FROM actions WHERE key = ?`),
    actionsByDigestDelete: db.prepare<[string]>(`DELETE FROM actions WHERE artifact_digest = ?`),
    actionsLru: db.prepare<[], { key: string; artifact_digest: string }>(
      `SELECT key, artifact_digest FROM actions ORDER BY last_used_ms, key`,
    ),
    digestRefs: db.prepare<[string], bigint>(`SELECT count(*) FROM actions WHERE artifact_digest = ?`).pluck(),
    blobPut: db.prepare<[string, bigint, bigint]>(
      `INSERT INTO blobs (digest, size, created_ms) VALUES (?, ?, ?) ON CONFLICT (digest) DO NOTHING`,
    ),
    blobGet: db.prepare<[string], DigestSize>(`SELECT digest, size FROM blobs WHERE digest = ?`),
    blobDelete: db.prepare<[string]>(`DELETE FROM blobs WHERE digest = ?`),
    blobsAll: db.prepare<[], DigestSize>(`SELECT digest, size FROM blobs`),
    blobsUnreferenced: db.prepare<[], DigestSize>(
      `SELECT digest, size FROM blobs
        WHERE NOT EXISTS (SELECT 1 FROM actions WHERE actions.artifact_digest = blobs.digest)`,
    ),
    blobBytes: db.prepare<[], bigint>(`SELECT coalesce(sum(size), 0) FROM blobs`).pluck(),
    // Every digest some row names: a file outside this set is an orphan.
    referencedDigests: db.prepare<[], string>(
      `SELECT digest FROM blobs UNION SELECT artifact_digest FROM actions`,
    ).pluck(),
    counterAdd: db.prepare<[string, bigint]>(
      `INSERT INTO counters (name, value) VALUES (?, ?)
       ON CONFLICT (name) DO UPDATE SET value = value + excluded.value`,
    ),
    countersAll: db.prepare<[], { name: string; value: bigint }>(`SELECT name, value FROM counters`),
    totals: db.prepare<[], { entries: bigint; blobs: bigint; bytes: bigint; files: bigint }>(
      `SELECT (SELECT count(*) FROM actions) AS entries,
              (SELECT count(*) FROM blobs) AS blobs,
              (SELECT coalesce(sum(size), 0) FROM blobs) AS bytes,
              (SELECT count(*) FROM files) AS files`,
    ),
    modulePut: db.prepare<[string, string, string, string, string, bigint]>(
      `INSERT INTO modules (path, key, inputs_json, outcome, reason, updated_ms) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (path) DO UPDATE SET
         key = excluded.key, inputs_json = excluded.inputs_json, outcome = excluded.outcome,
         reason = excluded.reason, updated_ms = excluded.updated_ms`,
    ),
    moduleGet: db.prepare<[string], ModuleRow>(
      `SELECT path, key, inputs_json, outcome, reason, updated_ms FROM modules WHERE path = ?`,
    ),
    modulesAll: db.prepare<[], ModuleRow>(
      `SELECT path, key, inputs_json, outcome, reason, updated_ms FROM modules ORDER BY path`,
    ),
    // instr() = 1 is a literal prefix test: no LIKE wildcards to escape in paths.
    modulesPrefix: db.prepare<[string], ModuleRow>(
      `SELECT path, key, inputs_json, outcome, reason, updated_ms FROM modules
        WHERE instr(path, ?) = 1 ORDER BY path`,
    ),
    treePut: db.prepare<[string, string | null, string | null, bigint]>(
      `INSERT INTO trees (dir, base, flags, created_ms) VALUES (?, ?, ?, ?)
       ON CONFLICT (dir) DO UPDATE SET base = excluded.base, flags = excluded.flags`,
    ),
    treeDelete: db.prepare<[string]>(`DELETE FROM trees WHERE dir = ?`),
    treesAll: db.prepare<[], { dir: string; base: string | null; flags: string | null; created_ms: bigint }>(
      `SELECT dir, base, flags, created_ms FROM trees ORDER BY dir`,
    ),
    clearAll: [
      db.prepare(`DELETE FROM actions`),
      db.prepare(`DELETE FROM blobs`),
      db.prepare(`DELETE FROM files`),
      db.prepare(`DELETE FROM modules`),
      db.prepare(`DELETE FROM counters`),
    ],
  };

  let closed = false;

  /** Run `fn` on an open store, mapping I/O and SQLite failures to the catalog's cache error. */
  const guarded = <R>(what: string, fn: () => R): R => {
    if (closed) throw new BtfdError('BTFD_ERR_CACHE_UNAVAILABLE', `${what}: the cache store ${dir} is closed`);
    try {
      return fn();
    } catch (err) {
      throw toCacheError(err, what);
    }
  };

  const bump = (name: string, by: bigint): void => {
    sql.counterAdd.run(name, by);
  };

  /** Remove every row naming `digest` (under the caller's write lock); returns action rows removed. */
  const dropDigestRows = (digest: string): number => {
    const removed = sql.actionsByDigestDelete.run(digest).changes;
    sql.blobDelete.run(digest);
    return removed;
  };

  const verifies = (digest: string, data: Buffer | null): data is Buffer => data !== null && sha256Hex(data) === digest;

  /**
   * Delete blob files no row names, and temp files left by dead writers. Must run under the
   * write lock: putArtifact re-checks its file under the same lock before committing its row.
   */
  const sweepOrphans = (): { files: number; bytes: number } => {
    const referenced = new Set(sql.referencedDigests.all());
    const { blobs, temps } = cas.scan();
    let files = 0;
    let bytes = 0;
    for (const blob of blobs) {
      if (referenced.has(blob.digest)) continue;
      if (cas.remove(blob.digest)) {
        files++;
        bytes += blob.size;
      }
    }
    const cutoff = now() - STALE_TEMP_MS;
    for (const temp of temps) {
      if (temp.mtimeMs >= cutoff) continue;
      fs.rmSync(temp.path, { force: true });
      files++;
    }
    return { files, bytes };
  };

  const store: Store = {
    dir,

    lookupFile: (filePath, stat) =>
      guarded('stat cache lookup', () => {
        const row = sql.fileGet.get(filePath);
        if (row === undefined) return null;
        const same =
          row.dev === toInt64(stat.dev) &&
          row.ino === toInt64(stat.ino) &&
          row.size === BigInt(stat.size) &&
          row.mtime_ns === stat.mtimeNs &&
          row.ctime_ns === stat.ctimeNs;
        if (!same) return null;
        // ctime counts too: a write that restores an old mtime (touch -d, cp -p) still moves it.
        const changedNs = row.mtime_ns > row.ctime_ns ? row.mtime_ns : row.ctime_ns;
        if (changedNs >= row.recorded_ns - RACY_WINDOW_NS) return null;
        return { contentDigest: row.content_digest, outputsDigest: row.outputs_digest };
      }),

    recordFile: (filePath, stat, digests) =>
      guarded('stat cache record', () => {
        sql.filePut.run(
          filePath,
          toInt64(stat.dev),
          toInt64(stat.ino),
          BigInt(stat.size),
          stat.mtimeNs,
          stat.ctimeNs,
          nowMs() * 1_000_000n,
          digests.contentDigest,
          digests.outputsDigest,
        );
      }),

    forgetFile: (filePath) =>
      guarded('stat cache forget', () => {
        sql.fileDelete.run(filePath);
      }),

    getAction: (key) =>
      guarded('action cache lookup', () => {
        const row = sql.actionUse.get(nowMs(), key);
        if (row === undefined) return null;
        return { artifactDigest: row.artifact_digest, outputsDigest: row.outputs_digest, costMs: Number(row.cost_ms) };
      }),

    peekAction: (key) =>
      guarded('action cache lookup', () => {
        const row = sql.actionPeek.get(key);
        if (row === undefined) return null;
        return { artifactDigest: row.artifact_digest, outputsDigest: row.outputs_digest, costMs: Number(row.cost_ms) };
      }),

    blobPath: (digest) => cas.blobPath(digest),

    putArtifact: (key, artifact, meta) =>
      guarded('action cache store', () => {
        const digest = sha256Hex(artifact);
        const cost = BigInt(Math.max(0, Math.round(meta.costMs)));
        const { tool, flags, base, module } = meta.inputs;
        // The slow part (write + fsync) happens outside the lock ...
        cas.write(digest, artifact);
        db.transaction(() => {
          // ... and is redone under it if a concurrent orphan sweep removed the file meanwhile.
          if (cas.sizeOf(digest) !== artifact.length) cas.write(digest, artifact);
          const at = nowMs();
          sql.blobPut.run(digest, BigInt(artifact.length), at);
          sql.actionPut.run(key, digest, at, at, cost, meta.outputsDigest, tool, flags, base, module);
        }).immediate();
        return digest;
      }),

    readBlob: (digest) =>
      guarded('blob read', () => {
        if (!isDigest(digest)) return null;
        const data = cas.read(digest);
        if (verifies(digest, data)) return data;
        return db.transaction((): Buffer | null => {
          // Look again under the lock: another process may have rewritten the blob meanwhile.
          const again = cas.read(digest);
          if (verifies(digest, again)) return again;
          if (again === null) bump('missing', 1n);
          else {
            cas.remove(digest);
            bump('corrupt', 1n);
          }
          dropDigestRows(digest);
          return null;
        }).immediate();
      }),

    discardBlob: (digest) =>
      guarded('blob discard', () => {
        db.transaction(() => {
          if (isDigest(digest)) cas.remove(digest);
          bump('corrupt', 1n);
          dropDigestRows(digest);
        }).immediate();
      }),

    recordHit: (savedMs) =>
      guarded('hit counter', () => {
        db.transaction(() => {
          bump('hits', 1n);
          bump('saved_ms', BigInt(Math.max(0, Math.round(savedMs))));
        })();
      }),

    recordMiss: () =>
      guarded('miss counter', () => {
        bump('misses', 1n);
      }),

    recordModule: (rec) =>
      guarded('module record', () => {
        sql.modulePut.run(
          rec.path,
          rec.key,
          JSON.stringify(rec.inputs),
          rec.outcome,
          rec.reason,
          BigInt(Math.trunc(rec.updatedMs)),
        );
      }),

    getModule: (modulePath) =>
      guarded('module lookup', () => {
        const row = sql.moduleGet.get(modulePath);
        return row === undefined ? null : toModuleRecord(row);
      }),

    listModules: (prefix) =>
      guarded('module list', () => {
        const rows = prefix === undefined || prefix === '' ? sql.modulesAll.all() : sql.modulesPrefix.all(prefix);
        return rows.map(toModuleRecord);
      }),

    putTree: (tree) =>
      guarded('tree registration', () => {
        sql.treePut.run(tree.dir, tree.base, tree.flags, BigInt(Math.trunc(tree.createdMs)));
      }),

    removeTree: (treeDir) => guarded('tree removal', () => sql.treeDelete.run(treeDir).changes > 0),

    listTrees: () =>
      guarded('tree list', () =>
        sql.treesAll.all().map((row) => ({ dir: row.dir, base: row.base, flags: row.flags, createdMs: Number(row.created_ms) })),
      ),

    stats: () =>
      guarded('cache stats', () => {
        const totals = sql.totals.get();
        const counters = new Map(sql.countersAll.all().map((c) => [c.name, Number(c.value)]));
        return {
          entries: Number(totals?.entries ?? 0n),
          blobs: Number(totals?.blobs ?? 0n),
          bytes: Number(totals?.bytes ?? 0n),
          maxBytes: defaultMaxBytes,
          hits: counters.get('hits') ?? 0,
          misses: counters.get('misses') ?? 0,
          savedMs: counters.get('saved_ms') ?? 0,
          files: Number(totals?.files ?? 0n),
          corrupt: counters.get('corrupt') ?? 0,
          missing: counters.get('missing') ?? 0,
        };
      }),

    gc: (maxBytes) =>
      guarded('cache gc', () => {
        const limit = BigInt(checkMaxBytes(maxBytes ?? defaultMaxBytes, 'maxBytes'));
        // Files are deleted inside the transaction so no other process can commit a row for them
        // meanwhile; if the transaction rolls back, rows may name deleted files, which readBlob
        // and verify treat as misses.
        return db.transaction((): GcResult => {
          let removedEntries = 0;
          let removedBytes = 0;
          // Rows whose file is gone would count bytes that are not there.
          const onDisk = new Set(cas.scan().blobs.map((b) => b.digest));
          for (const blob of sql.blobsAll.all()) {
            if (onDisk.has(blob.digest)) continue;
            removedEntries += dropDigestRows(blob.digest);
            bump('missing', 1n);
          }
          for (const blob of sql.blobsUnreferenced.all()) {
            sql.blobDelete.run(blob.digest);
            if (cas.remove(blob.digest)) removedBytes += Number(blob.size);
          }
          const orphans = sweepOrphans();
          removedBytes += orphans.bytes;

          let total = sql.blobBytes.get() ?? 0n;
          if (total > limit) {
            for (const action of sql.actionsLru.all()) {
              if (total <= limit) break;
              sql.actionDelete.run(action.key);
              removedEntries++;
              if ((sql.digestRefs.get(action.artifact_digest) ?? 0n) > 0n) continue;
              const blob = sql.blobGet.get(action.artifact_digest);
              if (blob === undefined) continue;
              sql.blobDelete.run(blob.digest);
              cas.remove(blob.digest);
              total -= blob.size;
              removedBytes += Number(blob.size);
            }
          }
          return { removedEntries, removedBytes };
        }).immediate();
      }),

    verify: () =>
      guarded('cache verify', () => {
        // Hash without the write lock (it may take a while on a big cache); confirm under it.
        const suspects: { digest: string; missing: boolean }[] = [];
        const digests = sql.referencedDigests.all();
        for (const digest of digests) {
          const data = isDigest(digest) ? cas.read(digest) : null;
          if (!verifies(digest, data)) suspects.push({ digest, missing: data === null });
        }
        return db.transaction((): VerifyResult => {
          const corrupt: string[] = [];
          const missing: string[] = [];
          for (const suspect of suspects) {
            const data = isDigest(suspect.digest) ? cas.read(suspect.digest) : null;
            if (verifies(suspect.digest, data)) continue;
            if (data === null) {
              missing.push(suspect.digest);
              bump('missing', 1n);
            } else {
              cas.remove(suspect.digest);
              corrupt.push(suspect.digest);
              bump('corrupt', 1n);
            }
            dropDigestRows(suspect.digest);
          }
          const orphans = sweepOrphans().files;
          return { checked: digests.length, corrupt, missing, orphans };
        }).immediate();
      }),

    clear: () =>
      guarded('cache clear', () => {
        db.transaction(() => {
          for (const stmt of sql.clearAll) stmt.run();
          sweepOrphans();
        }).immediate();
      }),

    close: () => {
      if (closed) return;
      closed = true;
      db.close();
    },
  };
  return store;
}
