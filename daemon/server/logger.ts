/**
 * The daemon's root logger: pino JSON lines appended to `stateDir/btfd.log`.
 *
 * Components log through `root.child({ component })` with constant messages and their data in
 * the object (errors under `err`), so `btfd logs` and grep both work. Writes are synchronous:
 * the daemon logs little, and a synchronous destination loses nothing when the process exits
 * right after a fatal error.
 */
import { pino, type Logger } from 'pino';
import type { LogLevel } from '../../shared/config.js';

export type { Logger } from 'pino';

/** Create the root logger writing to `logPath` (created with mode 0600 if missing). */
export function createLogger(options: { readonly logPath: string; readonly level: LogLevel; readonly pid: number }): Logger {
  const destination = pino.destination({ dest: options.logPath, sync: true, append: true, mkdir: false, mode: 0o600 });
  // pid in every line: one log file outlives many daemons; hostname is noise on a local socket.
  return pino({ level: options.level, base: { pid: options.pid } }, destination);
}
