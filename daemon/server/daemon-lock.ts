/**
 * One daemon per home: a lock the kernel releases when its holder dies, however it dies.
 *
 * Node has no flock(2). The lock is a listening unix socket in Linux's *abstract* namespace
 * (a name starting with NUL, derived from the real path of the socket file): bind() fails with
 * EADDRINUSE while any process holds it, and the kernel frees the name the moment the holder
 * exits, SIGKILL included. Nothing is left on disk, so the lock itself never goes stale.
 *
 * Why not use the API socket file itself as the lock? Seeing a dead socket file (connect gets
 * ECONNREFUSED) and replacing it are two steps: two starting daemons can both see the same stale
 * file, and the slower one unlinks the socket the faster one just bound, leaving two daemons.
 * Holding the abstract lock first makes that replacement safe: only the holder ever unlinks or
 * binds the socket file, so any socket file it finds is stale (its owner died) unless something
 * answers on it (a daemon in another network namespace sharing the same home: refused too).
 *
 * A starting daemon that finds the lock held and the socket silent is racing a daemon that is
 * starting or shutting down; it waits a bounded time for the lock, then gives up. Any local user
 * could squat an abstract name (there are no permissions on it); that only stops a daemon from
 * starting (it reports ALREADY_RUNNING), never lets anyone reach the socket, which stays in a
 * 0700 dir with mode 0600.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BtfdError } from '../../shared/errors.js';

/** How long a socket probe may take before a silent peer counts as alive (and hung). */
const PROBE_TIMEOUT_MS = 1000;
/** How long to wait for a lock holder that is starting or stopping. */
const DEFAULT_LOCK_WAIT_MS = 10_000;
const LOCK_RETRY_MS = 50;

/** What a connect attempt on a unix socket found. */
export type SocketProbe = 'alive' | 'dead' | 'absent';

/** Connect to `socketPath` and hang up: `alive` when something accepts, `dead` on ECONNREFUSED. */
export function probeSocket(socketPath: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<SocketProbe> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    const finish = (result: SocketProbe): void => {
      socket.destroy();
      clearTimeout(timer);
      resolve(result);
    };
    // A peer that neither accepts nor refuses is alive but hung; replacing it would be wrong.
    const timer = setTimeout(() => finish('alive'), timeoutMs);
    socket.once('connect', () => finish('alive'));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') finish('absent');
      else if (err.code === 'ECONNREFUSED' || err.code === 'ENOTSOCK') finish('dead');
      // EACCES and the like: something we may not touch is there.
      else finish('alive');
    });
  });
}

/** The abstract socket name guarding `socketPath` (whose dir must exist). */
export function lockNameFor(socketPath: string): string {
  const real = path.join(fs.realpathSync(path.dirname(socketPath)), path.basename(socketPath));
  return `\0btfd-lock-${createHash('sha256').update(real).digest('hex').slice(0, 40)}`;
}

/** The held lock. */
export interface DaemonLock {
  /** Release the lock (idempotent); the kernel also releases it when the process exits. */
  release(): Promise<void>;
}

export interface AcquireOptions {
  /** How long to wait for a holder that does not answer on the socket (starting or stopping). */
  readonly waitMs?: number;
  /** Told when a stale socket file from a dead daemon is removed. */
  readonly onStaleSocket?: (socketPath: string) => void;
}

function listenAbstract(name: string): Promise<net.Server | null> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((conn) => conn.destroy());
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') resolve(null);
      else reject(err);
    });
    server.listen(name, () => resolve(server));
  });
}

function alreadyRunning(socketPath: string, why: string): BtfdError {
  return new BtfdError('BTFD_ERR_DAEMON_ALREADY_RUNNING', `a btfd daemon already owns ${socketPath} (${why})`);
}

/**
 * Take the home's lock, then clear a stale socket file so the caller can bind `socketPath`.
 * @throws BtfdError BTFD_ERR_DAEMON_ALREADY_RUNNING when another daemon holds it
 */
export async function acquireDaemonLock(socketPath: string, options: AcquireOptions = {}): Promise<DaemonLock> {
  const name = lockNameFor(socketPath);
  const deadline = Date.now() + (options.waitMs ?? DEFAULT_LOCK_WAIT_MS);
  let server: net.Server | null = null;
  for (;;) {
    server = await listenAbstract(name);
    if (server !== null) break;
    if ((await probeSocket(socketPath)) === 'alive') throw alreadyRunning(socketPath, 'it answers on the socket');
    if (Date.now() >= deadline) throw alreadyRunning(socketPath, 'its lock is held by a process that does not answer');
    await sleep(LOCK_RETRY_MS);
  }
  const held = server;
  let released: Promise<void> | undefined;
  const lock: DaemonLock = {
    release() {
      released ??= new Promise((resolve) => held.close(() => resolve()));
      return released;
    },
  };

  try {
    const probe = await probeSocket(socketPath);
    if (probe === 'alive') throw alreadyRunning(socketPath, 'it answers on the socket from outside this lock');
    if (probe === 'dead' || fs.existsSync(socketPath)) {
      fs.unlinkSync(socketPath);
      options.onStaleSocket?.(socketPath);
    }
  } catch (err) {
    await lock.release();
    throw err;
  }
  return lock;
}
