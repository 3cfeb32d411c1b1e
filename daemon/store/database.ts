/**
 * The cache database: one SQLite file (WAL) per cache dir, shared by every store over it in any
 * process (a daemon and a `--no-daemon` CLI). The modules beside this one each own their tables'
 * SQL and take the handle; this module opens it and maps failures to the catalog.
 */
import fs from 'node:fs';
import Database from 'better-sqlite3';
import { BtfdError } from '../../shared/errors.js';
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
    migrate(db, file);
    // ns timestamps exceed 2^53: read every INTEGER as bigint and convert where it is safe.
    db.defaultSafeIntegers(true);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/** Turn an I/O or SQLite failure into the catalog's cache error; leave programming errors alone. */
export function toCacheError(err: unknown, what: string): unknown {
  if (err instanceof BtfdError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (err instanceof Database.SqliteError || typeof code === 'string') {
    const detail = err instanceof Error ? err.message : String(err);
    return new BtfdError('BTFD_ERR_CACHE_UNAVAILABLE', `${what}: ${detail}`, { cause: err });
  }
  return err;
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
