/**
 * The cache database: one SQLite file (WAL) per cache dir, shared by every store over it in any
 * process (a daemon and a `--no-daemon` CLI). The modules beside this one each own their tables'
 * SQL and take the handle; this module opens it and maps failures to the catalog.
 */
import fs from 'node:fs';
import Database from 'better-sqlite3';
import { BtfdError, fsErrorCode } from '../../shared/errors.js';
import { migrate } from './schema.js';

/** How long SQLite waits for another process's write lock before giving up. */
export const BUSY_TIMEOUT_MS = 5000;
/** Mode of every file the store creates. */
export const PRIVATE_FILE_MODE = 0o600;

export type Db = Database.Database;

/** Open (creating and migrating) the database at `file`. */
export function openDatabase(file: string): Db {
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
    checkIntegrity(db);
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
 * Turn an I/O or SQLite failure into the catalog's cache error (a full disk, a permission or a
 * read-only file system into its own code); leave programming errors alone.
 */
export function toCacheError(err: unknown, what: string): unknown {
  if (err instanceof BtfdError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (err instanceof Database.SqliteError || typeof code === 'string') {
    const detail = err instanceof Error ? err.message : String(err);
    return new BtfdError(fsErrorCode(err) ?? 'BTFD_ERR_CACHE_UNAVAILABLE', `${what}: ${detail}`, { cause: err });
  }
  return err;
}

/** SQLite's codes for a file that is not a sound database (not busy, full or unreadable). */
const CORRUPTION_CODE_RE = /^SQLITE_(CORRUPT|NOTADB)/;

/** True when `err`, or an error in its cause chain, says the database file itself is damaged. */
export function isCorruption(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== null && e !== undefined && depth < 8; e = (e as { cause?: unknown }).cause, depth += 1) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CORRUPTION_CODE_RE.test(code)) return true;
  }
  return false;
}

/**
 * Throw an SQLITE_CORRUPT error unless SQLite's quick check passes: a truncated file can open and
 * answer some queries, then fail the first write that touches a missing page.
 */
export function checkIntegrity(db: Db): void {
  const rows = db.pragma('quick_check') as Array<Record<string, unknown>>;
  const problems = rows.map((row) => String(Object.values(row)[0]));
  if (problems.length !== 1 || problems[0] !== 'ok') {
    throw Object.assign(new Error(`quick_check: ${problems.slice(0, 3).join('; ')}`), { code: 'SQLITE_CORRUPT' });
  }
}

/**
 * Move a damaged database (and its -wal and -shm files, which belong to it) aside to
 * `FILE.corrupt-<UTC time>`; returns the new name. Kept, not deleted: it is the evidence.
 */
export function moveDatabaseAside(file: string, nowMs: number): string {
  const stamp = new Date(nowMs).toISOString().replace(/[:.]/g, '-');
  let target = `${file}.corrupt-${stamp}`;
  for (let n = 1; fs.existsSync(target); n += 1) target = `${file}.corrupt-${stamp}-${n}`;
  fs.renameSync(file, target);
  for (const suffix of ['-wal', '-shm']) {
    try {
      fs.renameSync(file + suffix, target + suffix);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return target;
}

/** Runs store work: refused once the store is closed, failures mapped by {@link toCacheError}. */
export type Guarded = <R>(what: string, fn: () => R) => R;

export function createGuard(dir: string, isClosed: () => boolean): Guarded {
  return (what, fn) => {
    if (isClosed()) throw new BtfdError('BTFD_ERR_CACHE_UNAVAILABLE', `${what}: the cache store ${dir} is closed`);
    try {
      const result = fn();
      if (result instanceof Promise) return result.catch((err: unknown) => { throw toCacheError(err, what); }) as typeof result;
      return result;
    } catch (err) {
      throw toCacheError(err, what);
    }
  };
}

/** SQLite INTEGER is signed 64-bit; st_dev/st_ino are unsigned 64-bit, so store their bit pattern. */
export function toInt64(value: bigint | number): bigint {
  return BigInt.asIntN(64, BigInt(value));
}
