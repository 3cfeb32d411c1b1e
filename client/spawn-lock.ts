/**
 * The client's spawn lock: when many clients find no daemon at once, one of them spawns it and
 * the others wait for it to answer.
 *
 * A file in the private runtime dir holding `pid token time`, created whole and exclusively
 * (written aside, then hard-linked into place: link(2) fails when the lock exists). It is stale when its pid
 * is gone or it is older than any start could take. Removing a stale lock renames it aside
 * first and checks that the renamed file is the one judged stale (a fresh lock taken meanwhile
 * is put back), so two waiters cannot both break it and both spawn.
 *
 * This lock only avoids a herd of spawns; the daemon's own kernel-released lock
 * (daemon/server/daemon-lock.ts) is what guarantees one daemon per home, so a lock that is
 * wrongly broken costs at most one extra daemon process that exits at once.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { BtfdError } from '../shared/errors.js';

const POLL_MS = 50;

/** A held spawn lock. */
export interface SpawnLock {
  /** Remove the lock file if it is still ours (idempotent). */
  release(): void;
}

export interface SpawnLockOptions {
  /** Give up waiting at this time (ms since the epoch). */
  readonly deadlineMs: number;
  /** A lock older than this is stale even if its pid lives (pid reuse, a hung spawner). */
  readonly staleMs: number;
  /** Checked between tries: resolve true when waiting is pointless (the daemon answers). */
  readonly isDone: () => Promise<boolean>;
  /** This process's pid. */
  readonly pid: number;
}

interface Holder {
  readonly pid: number;
  readonly token: string;
  readonly atMs: number;
}

function parseHolder(text: string): Holder | null {
  const [pid, token, at] = text.trim().split(' ');
  const holder = { pid: Number(pid), token: token ?? '', atMs: Number(at) };
  return Number.isSafeInteger(holder.pid) && holder.pid > 0 && Number.isFinite(holder.atMs) ? holder : null;
}

/** True while process `pid` exists (ours or someone else's). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the pid exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Create the lock with its full content at once (write aside, then link: fails if it exists). */
function tryCreate(lockPath: string, content: string, token: string): boolean {
  const temp = `${lockPath}.new-${token}`;
  try {
    fs.writeFileSync(temp, content, { mode: 0o600 });
    fs.linkSync(temp, lockPath);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new BtfdError('BTFD_ERR_DAEMON_START_FAILED', `cannot create the spawn lock ${lockPath}: ${(err as Error).message}`, { cause: err });
  } finally {
    fs.rmSync(temp, { force: true });
  }
}

function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** Remove `lockPath` if it still holds `staleText`; leaves a lock taken meanwhile in place. */
function breakStaleLock(lockPath: string, staleText: string): void {
  const aside = `${lockPath}.stale-${randomBytes(6).toString('hex')}`;
  try {
    fs.renameSync(lockPath, aside);
  } catch {
    return; // Someone else broke it first.
  }
  if (readText(aside) !== staleText) {
    // We moved a fresh lock: put it back unless yet another one appeared (link fails then).
    try {
      fs.linkSync(aside, lockPath);
    } catch {
      // A third lock exists now; the daemon lock settles any extra spawn.
    }
  }
  fs.rmSync(aside, { force: true });
}

/**
 * Take the spawn lock at `lockPath`, or resolve null once `isDone()` says the daemon answers.
 * @throws BtfdError BTFD_ERR_DAEMON_START_FAILED when the deadline passes
 */
export async function acquireSpawnLock(lockPath: string, options: SpawnLockOptions): Promise<SpawnLock | null> {
  const token = randomBytes(8).toString('hex');
  const content = `${options.pid} ${token} ${Date.now()}\n`;
  for (;;) {
    if (tryCreate(lockPath, content, token)) {
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          if (readText(lockPath) === content) fs.rmSync(lockPath, { force: true });
        },
      };
    }
    const text = readText(lockPath);
    const holder = text === null ? null : parseHolder(text);
    if (text !== null && (holder === null || !pidAlive(holder.pid) || Date.now() - holder.atMs > options.staleMs)) {
      breakStaleLock(lockPath, text);
      continue;
    }
    if (await options.isDone()) return null;
    if (Date.now() >= options.deadlineMs) {
      throw new BtfdError('BTFD_ERR_DAEMON_START_FAILED', `another client (pid ${holder?.pid ?? '?'}) is starting the daemon and it did not come up in time`);
    }
    // Jitter spreads the polls of many waiting clients.
    await sleep(POLL_MS + Math.floor(Math.random() * POLL_MS));
  }
}
