/**
 * The daemon's root logger: pino JSON lines appended to `stateDir/btfd.log`, and to stdout as
 * well in the foreground (`btfd start --foreground`, a container, a systemd unit), where the
 * process's output is where its supervisor looks for logs.
 *
 * Components log through `root.child({ component })` with constant messages and their data in
 * the object (errors under `err`), so `btfd logs` and grep both work.
 *
 * Two bounds keep logging from hurting the daemon (see log-sink.ts): lines go through an async
 * sink that drops and counts instead of throwing (a full disk), and one warning or error message of one
 * component logs at most LOG_BURST lines per LOG_WINDOW_MS (a huge tree's thousands of identical watcher
 * errors): the rest are counted, and one line per window says how many were suppressed.
 */
import { pino, type Logger } from 'pino';
import type { LogLevel } from '../../shared/config.js';
import { createLogSink, type LogSink, type LogSinkStats } from './log-sink.js';

export type { Logger } from 'pino';

/** Lines of one (component, message) per window before the rest are suppressed. */
export const LOG_BURST = 20;
export const LOG_WINDOW_MS = 10_000;
const WARN_LEVEL = 40;
const FATAL_LEVEL = 60;

/** What the log has done so far, for status and metrics. */
export interface LogHealth extends LogSinkStats {
  /** Lines not written because the same message repeated too often. */
  readonly suppressed: number;
}

export interface DaemonLogger {
  readonly logger: Logger;
  health(): LogHealth;
  /** Write what is queued now, synchronously (before an exit that skips the teardown). */
  flush(): void;
  /** Write what is queued and close the files (the last step of the teardown). */
  close(): void;
}

interface Window {
  startMs: number;
  count: number;
}

/**
 * Create the root logger writing to `logPath` (created with mode 0600 if missing), and to stdout
 * too if asked.
 */
export function createLogger(options: {
  readonly logPath: string;
  readonly level: LogLevel;
  readonly pid: number;
  readonly stdout?: boolean;
  readonly now?: () => number;
  readonly burst?: number;
}): DaemonLogger {
  const now = options.now ?? Date.now;
  const burst = options.burst ?? LOG_BURST;
  const file = createLogSink(options.logPath, { mode: 0o600, now });
  const sinks: LogSink[] = options.stdout === true ? [file, createLogSink(1, { now })] : [file];
  const destination = sinks.length === 1 ? file : pino.multistream(sinks.map((stream) => ({ level: options.level, stream })));
  const windows = new Map<string, Window>();
  let suppressed = 0;
  let logger: Logger;
  // Report a window's suppressed lines when it ends, from a timer so a message that stopped
  // repeating still gets its count written.
  const reportSuppressed = (key: string, window: Window): void => {
    const extra = window.count - burst;
    windows.delete(key);
    if (extra > 0) logger.warn({ component: 'log', repeated: key, suppressed: extra, windowMs: LOG_WINDOW_MS }, 'log lines suppressed');
  };
  logger = pino({
    level: options.level,
    // pid in every line: one log file outlives many daemons; hostname is noise on a local socket.
    base: { pid: options.pid },
    hooks: {
      logMethod(args, method, level) {
        // Only problems repeat by the thousand; info and debug lines are what was asked for.
        if (level < WARN_LEVEL || level >= FATAL_LEVEL) {
          method.apply(this, args);
          return;
        }
        const message = args.find((arg): arg is string => typeof arg === 'string') ?? '';
        const component = String((this.bindings() as { component?: unknown }).component ?? '');
        const key = `${component}: ${message}`;
        let window = windows.get(key);
        if (window === undefined) {
          window = { startMs: now(), count: 0 };
          windows.set(key, window);
          const current = window;
          setTimeout(() => reportSuppressed(key, current), LOG_WINDOW_MS).unref();
        }
        window.count += 1;
        if (window.count > burst) {
          suppressed += 1;
          return;
        }
        method.apply(this, args);
      },
    },
  }, destination);
  return {
    logger,
    health: () => ({ ...file.stats(), suppressed }),
    flush() {
      for (const sink of sinks) sink.flushSync();
    },
    close() {
      for (const sink of sinks) sink.end();
    },
  };
}
