/**
 * The daemon process: the only daemon file that touches `process` (argv, env, signals, exit).
 *
 * `node dist/daemon/main.js [--home DIR] [--pahole P] [--workers N] [--max-cache-size S]
 * [--idle-timeout-ms T] [--log-level L] [--foreground] [--oneshot-socket PATH] [--check]` (the
 * client spawns it with its own config's values). `--foreground` says where it listens on stdout
 * (`btfd start --foreground`); `--oneshot-socket` runs a private daemon for one CLI command
 * (`--no-daemon`) that ends when its stdin closes; `--check` only checks the settings (private
 * dirs, the default pahole) and exits, so a client can know a new daemon would start before it
 * stops the running one.
 * Exit codes: 0 stopped on request or idle (or settings fine), 1 failure, 2 invalid config or
 * pahole, 3 another daemon owns the home (shared/protocol/daemon-exit.ts), 128+n after signal n
 * (SIGTERM: 143, SIGINT: 130).
 * A second SIGTERM/SIGINT during a slow teardown exits at once; after an uncaught error the
 * teardown gets FATAL_EXIT_TIMEOUT_MS before the process exits with code 1.
 */
import fs from 'node:fs';
import os from 'node:os';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DAEMON_ARG_OPTIONS, daemonArgsToFlags, resolveConfig, type Config } from '../shared/config.js';
import { codeOf, toBtfdError } from '../shared/errors.js';
import { DAEMON_EXIT_CODES, SIGNAL_EXIT_BASE } from '../shared/protocol/daemon-exit.js';
import { checkDefaultPahole } from './engine/pahole-tool.js';
import { preparePrivateDirs } from './server/private-dirs.js';
import type { RunningDaemon } from './server/run.js';
import type { ShutdownReason } from './server/shutdown.js';

const HANDLED_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];
/** How long the teardown after an uncaught error may take before the process exits anyway. */
const FATAL_EXIT_TIMEOUT_MS = 10_000;

function signalExitCode(signal: NodeJS.Signals): number {
  return SIGNAL_EXIT_BASE + (os.constants.signals[signal] ?? 0);
}

function exitCodeFor(reason: ShutdownReason): number {
  switch (reason.kind) {
    case 'request':
    case 'idle':
    // Its home is gone: stopping is the right, clean answer.
    case 'orphaned':
      return DAEMON_EXIT_CODES.OK;
    case 'signal':
      return signalExitCode(reason.signal);
    case 'fatal':
      return DAEMON_EXIT_CODES.FAILURE;
  }
}

/** Settings the daemon refuses to start with: it exits CONFIG_INVALID. */
const SETTINGS_CODES: ReadonlySet<string> = new Set(['BTFD_ERR_CONFIG_INVALID', 'BTFD_ERR_TOOL_PAHOLE_MISSING', 'BTFD_ERR_TOOL_PAHOLE_INVALID']);

function startFailureExitCode(err: unknown): number {
  const code = codeOf(err);
  if (code === 'BTFD_ERR_DAEMON_ALREADY_RUNNING') return DAEMON_EXIT_CODES.ALREADY_RUNNING;
  if (SETTINGS_CODES.has(code)) return DAEMON_EXIT_CODES.CONFIG_INVALID;
  return DAEMON_EXIT_CODES.FAILURE;
}

/** What a daemon checks before it starts: its private dirs, and its default pahole. */
async function checkSettings(config: Config, searchPath: string | undefined): Promise<void> {
  preparePrivateDirs(config);
  await checkDefaultPahole(config.pahole, searchPath, config.explicit.includes('pahole'));
}

function reportStartFailure(err: unknown): void {
  const error = toBtfdError(err);
  process.stderr.write(`btfd daemon: ${error.code}: ${error.message}\n  next: ${error.next}\n`);
}

/** What the foreground caller may want to know. */
export interface DaemonProcessOptions {
  /** Called once the daemon listens. */
  readonly onListening?: (daemon: RunningDaemon) => void;
  /** A one-shot daemon on this socket (see RunDaemonOptions.oneshotSocket). */
  readonly oneshotSocket?: string;
  /** Log to stdout as well as to the log file (the foreground). */
  readonly logToStdout?: boolean;
}

/**
 * Run a daemon in this process until it stops; resolves with the process exit code.
 * Installs signal handlers for the daemon's lifetime (used by `btfd start --foreground` too).
 */
export async function runDaemonProcess(config: Config, hooks: DaemonProcessOptions = {}): Promise<number> {
  let daemon: RunningDaemon;
  // The daemon's modules (fastify, SQLite, the engine…) load while pahole is checked: the check
  // mostly waits on pahole and ldd, and loading them took as long. A failed check still comes first.
  const loading = Promise.all([import('./server/run.js'), import('./engine/engine.js')]);
  loading.catch(() => undefined);
  try {
    await checkSettings(config, process.env['PATH']);
    const [{ runDaemon }, { createEngine }] = await loading;
    daemon = await runDaemon({
      config,
      ...(hooks.oneshotSocket === undefined ? {} : { oneshotSocket: hooks.oneshotSocket }),
      logToStdout: hooks.logToStdout === true,
      // The engine finds pahole and runs a tree's scripts with the user's PATH.
      createEngine: (options) => createEngine({ ...options, config: { ...options.config, ...(process.env['PATH'] ? { searchPath: process.env['PATH'] } : {}) } }),
      pid: process.pid,
    });
  } catch (err) {
    reportStartFailure(err);
    return startFailureExitCode(err);
  }
  const log = daemon.logger.child({ component: 'process' });

  let signalCount = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signalCount += 1;
    if (signalCount > 1) {
      log.warn({ signal }, 'second signal: exiting without finishing the teardown');
      daemon.flushLog();
      process.exit(signalExitCode(signal));
    }
    log.info({ signal }, 'signal received');
    void daemon.shutdown({ kind: 'signal', signal });
  };
  const onFatal = (err: unknown): void => {
    log.fatal({ err }, 'uncaught error');
    // The process state is suspect now: try an orderly teardown, but never wait on it forever
    // (an in-flight build may be waiting on the very thing that broke).
    setTimeout(() => {
      daemon.flushLog();
      process.exit(DAEMON_EXIT_CODES.FAILURE);
    }, FATAL_EXIT_TIMEOUT_MS).unref();
    void daemon.shutdown({ kind: 'fatal', error: err });
  };
  for (const signal of HANDLED_SIGNALS) process.on(signal, onSignal);
  process.on('uncaughtException', onFatal);
  process.on('unhandledRejection', onFatal);
  hooks.onListening?.(daemon);

  const reason = await daemon.stopped;
  for (const signal of HANDLED_SIGNALS) process.off(signal, onSignal);
  process.off('uncaughtException', onFatal);
  process.off('unhandledRejection', onFatal);
  return exitCodeFor(reason);
}

/** What this process is asked to be, beside the config. */
const PROCESS_ARG_OPTIONS = {
  foreground: { type: 'boolean' },
  'oneshot-socket': { type: 'string' },
  check: { type: 'boolean' },
} as const;

/** Parse argv and the environment, then run the daemon; resolves with the exit code. */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  let config: Config;
  let values: ReturnType<typeof parseArgs<{ options: typeof DAEMON_ARG_OPTIONS & typeof PROCESS_ARG_OPTIONS; strict: true; allowPositionals: false }>>['values'];
  try {
    ({ values } = parseArgs({ args: [...argv], options: { ...DAEMON_ARG_OPTIONS, ...PROCESS_ARG_OPTIONS }, strict: true, allowPositionals: false }));
    config = resolveConfig({ flags: daemonArgsToFlags(values), env });
  } catch (err) {
    const error = codeOf(err) === 'BTFD_ERR_INTERNAL' ? toBtfdError(err, 'BTFD_ERR_CONFIG_INVALID') : err;
    reportStartFailure(error);
    return DAEMON_EXIT_CODES.CONFIG_INVALID;
  }
  if (values.check === true) {
    try {
      await checkSettings(config, env['PATH']);
      return DAEMON_EXIT_CODES.OK;
    } catch (err) {
      reportStartFailure(err);
      return startFailureExitCode(err);
    }
  }
  const oneshotSocket = values['oneshot-socket'];
  return runDaemonProcess(config, {
    ...(oneshotSocket === undefined ? {} : { oneshotSocket }),
    logToStdout: values.foreground === true,
    onListening: (daemon) => {
      if (values.foreground === true) process.stdout.write(`btfd daemon listening on ${daemon.socketPath} (pid ${daemon.pid}); logs: ${config.logPath}\n`);
      // A one-shot daemon belongs to the CLI process that started it: it ends with its stdin.
      if (oneshotSocket !== undefined) {
        process.stdin.resume();
        process.stdin.once('close', () => void daemon.shutdown({ kind: 'request' }));
      }
    },
  });
}

function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(fs.realpathSync(entry)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  void main(process.argv.slice(2), process.env).then((code) => process.exit(code));
}
