/**
 * One daemon per cache dir, whatever namespace it runs in.
 *
 * The home's lock (daemon/server/daemon-lock.ts) is a socket in Linux's abstract namespace, which
 * is per network namespace: a daemon in a container sharing the cache dir through a bind mount
 * does not see it, and two daemons would watch and write the same trees from one cache.db. This
 * lock lives on the cache dir's own inode instead: `daemon.lock` there, held by SQLite in exclusive
 * locking mode after one write, which keeps an fcntl write lock on the file until the connection
 * closes or the process dies (the kernel drops it, SIGKILL included). fcntl locks belong to the
 * inode, so every mount of the dir, in any namespace, sees the same lock.
 *
 * A one-shot daemon (`--no-daemon`) does not take it: sharing the store with the daemon is safe;
 * two daemons watching the same registrations is what must not happen.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { BtfdError } from '../../shared/errors.js';

/** The lock file's name in the cache dir. */
export const CACHE_OWNER_FILE_NAME = 'daemon.lock';

/** A held lock; release() is idempotent. */
export interface CacheOwner {
  release(): void;
}

/**
 * Become the one daemon of `cacheDir` (which must exist).
 * @throws BtfdError BTFD_ERR_DAEMON_ALREADY_RUNNING when another daemon holds the cache dir
 */
export function acquireCacheOwner(cacheDir: string, pid: number): CacheOwner {
  const file = path.join(cacheDir, CACHE_OWNER_FILE_NAME);
  // timeout 0: a held lock answers SQLITE_BUSY at once instead of waiting for it.
  const db = new Database(file, { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    // The write takes the exclusive lock; exclusive locking mode keeps it until close.
    db.exec('CREATE TABLE IF NOT EXISTS owner (pid INTEGER NOT NULL)');
    db.transaction(() => {
      db.prepare('DELETE FROM owner').run();
      db.prepare('INSERT INTO owner (pid) VALUES (?)').run(pid);
    }).exclusive();
  } catch (err) {
    db.close();
    if ((err as { code?: unknown }).code === 'SQLITE_BUSY') {
      throw new BtfdError('BTFD_ERR_DAEMON_ALREADY_RUNNING', `another btfd daemon uses the cache dir ${cacheDir} (from another home, container or namespace)`, { cause: err });
    }
    throw new BtfdError('BTFD_ERR_CACHE_UNAVAILABLE', `cannot take the cache dir's lock ${file}: ${(err as Error).message}`, { cause: err });
  }
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      db.close();
    },
  };
}
