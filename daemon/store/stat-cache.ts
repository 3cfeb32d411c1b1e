/**
 * The stat cache (ccache's inode cache, watchman's content hash cache): a file's digests keyed by
 * its path and stamp, so a rescan or a restart re-hashes only files whose stat changed.
 *
 * An entry is trusted only when the file's mtime and ctime are older than the stat it was hashed
 * after by more than the racy window (git's "racily clean" rule): a write landing in the same
 * timestamp tick as that stat would otherwise go unseen. A file whose mtime is below its ctime
 * (btfd's own writes: markWritten) is trusted at once, since no write can keep such a stamp.
 */
import { keepsSubSecondTimes, lastChangeNs, laterWritesMoveMtime, type FileStamp } from '../fs/file-stamp.js';
import { toInt64, type Db, type Guarded } from './database.js';

/**
 * Timestamp granularity assumed for the racy-stat guard. 1 s covers coarse filesystems (ext3,
 * some network and FAT mounts); on fine-grained ones it only costs one extra hash of a file
 * recorded within a second of its last change.
 */
export const RACY_WINDOW_NS = 1_000_000_000n;

/**
 * The racy window where the filesystem keeps sub-second times: two jiffies at HZ=100, the
 * coarsest tick Linux stamps such files with (a write after the stat then gets a later stamp).
 */
export const SUB_SECOND_RACY_WINDOW_NS = 20_000_000n;

/** The racy window for a file with this stamp: sub-second where its filesystem keeps such times. */
export function racyWindowNs(stamp: FileStamp): bigint {
  return keepsSubSecondTimes(stamp) ? SUB_SECOND_RACY_WINDOW_NS : RACY_WINDOW_NS;
}

/** True when a write right after a stat taken at `statTakenNs` could leave `stamp` unchanged. */
export function isRacy(stamp: FileStamp, statTakenNs: bigint): boolean {
  if (laterWritesMoveMtime(stamp)) return false;
  return lastChangeNs(stamp) >= statTakenNs - racyWindowNs(stamp);
}

/** What the stat cache remembers about a file's content. */
export interface FileDigests {
  /** Digest of the file's content as the engine defines it (for a module: excluding output sections). */
  readonly contentDigest: string;
  /** Digest of the file's current output sections, or null when it has none. */
  readonly outputsDigest: string | null;
}

export interface StatCache {
  /** Digests recorded for `path` if `stamp` still matches and the entry is not racy, else null. */
  lookup(path: string, stamp: FileStamp): FileDigests | null;
  /**
   * Remember the digests of `path` as it was when `stamp` was taken (stat before hashing);
   * `statTakenMs` is when that stat began (default: the store's clock now). Callers pass the
   * time taken before their stat: a later one would trust the entry too soon.
   */
  record(path: string, stamp: FileStamp, digests: FileDigests, statTakenMs?: number): void;
  forget(path: string): void;
  /** Rows in the cache. */
  count(): number;
  clear(): void;
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

export function createStatCache(db: Db, guarded: Guarded, nowMs: () => number): StatCache {
  const sql = {
    get: db.prepare<[string], FileRow>(
      `SELECT dev, ino, size, mtime_ns, ctime_ns, recorded_ns, content_digest, outputs_digest FROM files WHERE path = ?`,
    ),
    put: db.prepare<[string, bigint, bigint, bigint, bigint, bigint, bigint, string, string | null]>(
      `INSERT INTO files (path, dev, ino, size, mtime_ns, ctime_ns, recorded_ns, content_digest, outputs_digest)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (path) DO UPDATE SET
         dev = excluded.dev, ino = excluded.ino, size = excluded.size,
         mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns, recorded_ns = excluded.recorded_ns,
         content_digest = excluded.content_digest, outputs_digest = excluded.outputs_digest`,
    ),
    delete: db.prepare<[string]>(`DELETE FROM files WHERE path = ?`),
    count: db.prepare<[], bigint>(`SELECT count(*) FROM files`).pluck(),
    clear: db.prepare(`DELETE FROM files`),
  };
  return {
    lookup: (filePath, stamp) =>
      guarded('stat cache lookup', () => {
        const row = sql.get.get(filePath);
        if (row === undefined) return null;
        const same = row.dev === toInt64(stamp.dev) && row.ino === toInt64(stamp.ino) && row.size === stamp.size
          && row.mtime_ns === stamp.mtimeNs && row.ctime_ns === stamp.ctimeNs;
        if (!same) return null;
        // ctime counts too: a write that restores an old mtime (touch -d, cp -p) still moves it.
        if (isRacy(stamp, row.recorded_ns)) return null;
        return { contentDigest: row.content_digest, outputsDigest: row.outputs_digest };
      }),
    record: (filePath, stamp, digests, statTakenMs = nowMs()) =>
      guarded('stat cache record', () => {
        sql.put.run(filePath, toInt64(stamp.dev), toInt64(stamp.ino), stamp.size, stamp.mtimeNs, stamp.ctimeNs,
          BigInt(Math.trunc(statTakenMs)) * 1_000_000n, digests.contentDigest, digests.outputsDigest);
      }),
    forget: (filePath) =>
      guarded('stat cache forget', () => {
        sql.delete.run(filePath);
      }),
    count: () => guarded('stat cache count', () => Number(sql.count.get() ?? 0n)),
    clear: () =>
      guarded('stat cache clear', () => {
        sql.clear.run();
      }),
  };
}
