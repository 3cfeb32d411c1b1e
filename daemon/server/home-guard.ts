/**
 * The daemon's claim on its home: its socket file (the inode it bound) and the dirs it lives in.
 *
 * Why: a daemon whose socket was unlinked (its temp home `rm -rf`'d by a test, the home wiped by
 * hand) can never be reached again, yet a watched tree holds its idle timer forever — such
 * daemons were found running for days. And a socket path that now names another inode belongs
 * to another daemon. Either way this daemon is orphaned and must stop by the usual teardown.
 * A stat every CHECK_INTERVAL_MS is cheap and sees every way of removal (inotify on a dir that
 * is itself removed sees only some).
 */
import fs from 'node:fs';

/** How often the socket and home are checked. */
export const HOME_CHECK_INTERVAL_MS = 2000;

export interface HomeGuard {
  /** Stop checking (idempotent). */
  stop(): void;
}

export interface HomeGuardOptions {
  readonly socketPath: string;
  /** Dirs whose removal orphans the daemon (the home, the state dir). */
  readonly dirs: readonly string[];
  /** Called once, with what is gone. */
  readonly onOrphaned: (what: string) => void;
  readonly intervalMs?: number;
}

/** Start checking; the socket must be bound already (its inode is the one this daemon owns). */
export function startHomeGuard(options: HomeGuardOptions): HomeGuard {
  const owned = fs.statSync(options.socketPath);
  const check = (): string | null => {
    let socket: fs.Stats;
    try {
      socket = fs.statSync(options.socketPath);
    } catch {
      return `socket ${options.socketPath} removed`;
    }
    if (socket.ino !== owned.ino || socket.dev !== owned.dev) return `socket ${options.socketPath} replaced by another file`;
    for (const dir of options.dirs) if (!fs.existsSync(dir)) return `dir ${dir} removed`;
    return null;
  };
  const timer = setInterval(() => {
    const gone = check();
    if (gone === null) return;
    clearInterval(timer);
    options.onOrphaned(gone);
  }, options.intervalMs ?? HOME_CHECK_INTERVAL_MS);
  // Never the reason the process stays alive.
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
