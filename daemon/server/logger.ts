/**
 * The daemon's root logger: pino JSON lines appended to `stateDir/btfd.log`, and to stdout as
 * well in the foreground (`btfd start --foreground`, a container, a systemd unit), where the
 * process's output is where its supervisor looks for logs.
 *
 * Components log through `root.child({ component })` with constant messages and their data in
 * the object (errors under `err`), so `btfd logs` and grep both work. Writes are synchronous:
 * the daemon logs little, and a synchronous destination loses nothing when the process exits
 * right after a fatal error.
 */
import { pino, type Logger } from 'pino';
import type { LogLevel } from '../../shared/config.js';

export type { Logger } from 'pino';

/** Create the root logger writing to `logPath` (created with mode 0600 if missing), and to stdout too if asked. */
export function createLogger(options: { readonly logPath: string; readonly level: LogLevel; readonly pid: number; readonly stdout?: boolean }): Logger {
  const file = pino.destination({ dest: options.logPath, sync: true, append: true, mkdir: false, mode: 0o600 });
  const destination = options.stdout === true
    ? pino.multistream([{ level: options.level, stream: file }, { level: options.level, stream: pino.destination({ dest: 1, sync: true }) }])
    : file;
  // pid in every line: one log file outlives many daemons; hostname is noise on a local socket.
  return pino({ level: options.level, base: { pid: options.pid } }, destination);
}
