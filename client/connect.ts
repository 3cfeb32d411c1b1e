/**
 * connectDaemon(): reach this home's daemon, starting it when asked, and check the handshake.
 *
 * Autostart: hello → (no daemon) spawn lock → hello again (another client may have won) →
 * spawn `node dist/daemon/main.js` detached with its output appended to the log → poll hello
 * until it answers (bounded) → release the lock. A spawned daemon that exits with code 3 lost
 * the race to another daemon, which is fine: polling finds the winner.
 *
 * Handshake: the daemon's protocol version, daemon version and cache dir (its real path) must
 * equal this client's: those make the daemon another program or another cache. Everything a build
 * depends on (pahole, flags, base) travels with each request instead, and process settings such
 * as the pool size only earn a note, so a command's own settings never stop a shared daemon.
 * When the identity differs, the client first has the new daemon check its settings
 * (`main.js --check`: dirs, pahole), then asks the old daemon to stop, waits for its process to end
 * (it releases its lock last), starts a new one, and says why in `notes`; after a bounded number of
 * restarts it gives up with BTFD_ERR_DAEMON_VERSION_MISMATCH.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { configToDaemonArgs, configToDaemonEnv, describeRemote, type Config } from '../shared/config.js';
import { BtfdError, isErrorCode } from '../shared/errors.js';
import { ensurePrivateDir, SPAWN_LOCK_FILE_NAME } from '../shared/paths.js';
import { DAEMON_EXIT_CODES } from '../shared/protocol/daemon-exit.js';
import type { HelloResponse } from '../shared/protocol/hello.js';
import { DAEMON_VERSION, PROTOCOL_VERSION } from '../shared/version.js';
import { createDaemonClient, isNotRunning, requestHello, type DaemonClient } from './daemon-client.js';
// node:child_process and the spawn lock load only when a daemon is started or stopped (CLI start cost).
const spawnLock = () => import('./spawn-lock.js');
const childProcess = () => import('node:child_process');

export { isNotRunning, type DaemonClient } from './daemon-client.js';

/** How long a spawned daemon may take to answer hello. */
export const DEFAULT_START_TIMEOUT_MS = 10_000;
/** How long a stopping daemon may take to exit (it drains builds and closes the store). */
export const DEFAULT_STOP_TIMEOUT_MS = 15_000;
/** Restarts over a handshake mismatch before giving up. */
export const DEFAULT_MAX_RESTARTS = 2;
const POLL_MS = 50;
/** Log lines quoted when a spawned daemon fails to start. */
const LOG_TAIL_LINES = 5;

/** The identity a client expects of its daemon. */
export interface DaemonIdentity {
  readonly protocolVersion: number;
  readonly daemonVersion: string;
  /** The cache dir's real path. */
  readonly cacheDir: string;
}

export interface ConnectOptions {
  /** Start a daemon when none answers (and restart one whose handshake differs). */
  readonly autostart: boolean;
  /** The daemon entry point to spawn; default `dist/daemon/main.js` of this installation. */
  readonly daemonEntry?: string;
  /** The spawned daemon's environment; default this process's. */
  readonly env?: NodeJS.ProcessEnv;
  readonly startTimeoutMs?: number;
  readonly stopTimeoutMs?: number;
  readonly maxRestarts?: number;
  /** Override parts of the identity this client expects (simulating another client build). */
  readonly expect?: Partial<DaemonIdentity>;
}

/** A dir's real path when it exists (one cache named two ways is one cache), else the path. */
function realDir(dir: string): string {
  try {
    return fs.realpathSync(dir);
  } catch {
    return dir;
  }
}

/** The identity this client's build and config expect. */
export function expectedIdentity(config: Config, override: Partial<DaemonIdentity> = {}): DaemonIdentity {
  return {
    protocolVersion: override.protocolVersion ?? PROTOCOL_VERSION,
    daemonVersion: override.daemonVersion ?? DAEMON_VERSION,
    cacheDir: override.cacheDir ?? realDir(config.cacheDir),
  };
}

/** Why `hello` does not match `expected`, in words, or null when it matches. */
export function describeMismatch(hello: HelloResponse, expected: DaemonIdentity): string | null {
  const reasons: string[] = [];
  if (hello.protocolVersion !== expected.protocolVersion) {
    reasons.push(`protocol version ${hello.protocolVersion}, this client speaks ${expected.protocolVersion}`);
  }
  if (hello.daemonVersion !== expected.daemonVersion) {
    reasons.push(`daemon version ${hello.daemonVersion}, this client is ${expected.daemonVersion}`);
  }
  if (hello.cacheDir !== expected.cacheDir) {
    reasons.push(`its cache dir is ${hello.cacheDir}, this client's is ${expected.cacheDir}`);
  }
  return reasons.length === 0 ? null : reasons.join('; ');
}

/**
 * Notes for the process settings this client's user set and the running daemon does not have:
 * they take effect when a daemon starts with them, and are no reason to stop this one.
 */
export function settingNotes(hello: HelloResponse, config: Config): string[] {
  const notes: string[] = [];
  const differs = (name: 'workers' | 'maxCacheBytes', option: string, shown: (value: number) => string): void => {
    if (config.explicit.includes(name) && hello[name] !== config[name]) {
      notes.push(`the running daemon (pid ${hello.pid}) has ${option} ${shown(hello[name])}; ${shown(config[name])} applies to a daemon started with it (\`btfd stop\`, then \`btfd start\`)`);
    }
  };
  differs('workers', 'workers', String);
  differs('maxCacheBytes', 'a cache size limit of', (bytes) => `${bytes} bytes`);
  const remote = describeRemote(config.remote);
  if (config.explicit.some((name) => name.startsWith('remote')) && hello.remote !== remote) {
    notes.push(`the running daemon (pid ${hello.pid}) has remote cache ${hello.remote ?? 'off'}; ${remote ?? 'off'} applies to a daemon started with it (\`btfd stop\`, then \`btfd start\`)`);
  }
  return notes;
}

/** hello, or null when no daemon listens (or the one there is shutting down). */
async function helloOrNull(socketPath: string): Promise<HelloResponse | null> {
  try {
    return await requestHello(socketPath);
  } catch (err) {
    if (isNotRunning(err)) return null;
    if (err instanceof BtfdError && err.code === 'BTFD_ERR_DAEMON_SHUTTING_DOWN') return null;
    throw err;
  }
}

/** The daemon's entry point of this installation: dist/daemon/main.js. */
export function defaultDaemonEntry(): string {
  return fileURLToPath(new URL('../daemon/main.js', import.meta.url));
}

/** The last lines of the daemon's log, quoted when a daemon fails to start. */
export function logTail(logPath: string): string {
  try {
    const lines = fs.readFileSync(logPath, 'utf8').trimEnd().split('\n');
    return lines.slice(-LOG_TAIL_LINES).join('\n');
  } catch {
    return '';
  }
}

/**
 * Wait until process `pid` is gone (a stopped daemon releases its lock as it exits).
 * Resolves false on timeout.
 */
export async function waitForExit(pid: number, timeoutMs = DEFAULT_STOP_TIMEOUT_MS): Promise<boolean> {
  const { pidAlive } = await spawnLock();
  const deadline = Date.now() + timeoutMs;
  while (pidAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await sleep(POLL_MS);
  }
  return true;
}

/** Ask the daemon behind `socketPath` (process `pid`) to stop and wait for it to exit. */
export async function stopDaemonAndWait(socketPath: string, pid: number, timeoutMs = DEFAULT_STOP_TIMEOUT_MS): Promise<boolean> {
  try {
    await createDaemonClient(socketPath, { protocolVersion: 0, daemonVersion: '', cacheDir: '', workers: 0, maxCacheBytes: 0, pahole: '', remote: null, pid }).stop();
  } catch (err) {
    // Already gone or already stopping: either way, wait for the process.
    const stopping = err instanceof BtfdError && (err.code === 'BTFD_ERR_DAEMON_SHUTTING_DOWN' || isNotRunning(err));
    if (!stopping) throw err;
  }
  return waitForExit(pid, timeoutMs);
}

/** Spawn one daemon process, detached, output appended to the log. */
async function spawnDaemon(config: Config, options: ConnectOptions): Promise<{ exited: () => number | null; dispose: () => void }> {
  const { spawn } = await childProcess();
  const logFd = fs.openSync(config.logPath, 'a', 0o600);
  let exitCode: number | null = null;
  try {
    const child = spawn(process.execPath, [options.daemonEntry ?? defaultDaemonEntry(), ...configToDaemonArgs(config)], {
      detached: true,
      stdio: ['ignore', logFd, logFd],
      env: { ...(options.env ?? process.env), ...configToDaemonEnv(config) },
    });
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      exitCode = code ?? (signal === null ? DAEMON_EXIT_CODES.FAILURE : 128);
    };
    child.once('exit', onExit);
    child.once('error', () => { exitCode = DAEMON_EXIT_CODES.FAILURE; });
    child.unref();
    return { exited: () => exitCode, dispose: () => { child.off('exit', onExit); } };
  } finally {
    fs.closeSync(logFd);
  }
}

/** Start a daemon (or find the one another client started); resolves with its hello. */
async function startDaemon(config: Config, options: ConnectOptions): Promise<HelloResponse> {
  if (config.home !== null) ensurePrivateDir(config.home);
  ensurePrivateDir(config.runtimeDir);
  ensurePrivateDir(config.stateDir);
  const timeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const deadlineMs = Date.now() + timeoutMs;
  const seen: { hello: HelloResponse | null } = { hello: null };
  const { acquireSpawnLock } = await spawnLock();
  const lock = await acquireSpawnLock(path.join(config.runtimeDir, SPAWN_LOCK_FILE_NAME), {
    deadlineMs,
    // Longer than any start we wait for: a lock this old belongs to a client that hung.
    staleMs: timeoutMs * 2,
    pid: process.pid,
    isDone: async () => {
      seen.hello = await helloOrNull(config.socketPath);
      return seen.hello !== null;
    },
  });
  if (lock === null) {
    if (seen.hello === null) throw new BtfdError('BTFD_ERR_INTERNAL', 'spawn lock wait ended without a daemon');
    return seen.hello;
  }
  try {
    const already = await helloOrNull(config.socketPath);
    if (already !== null) return already;
    const child = await spawnDaemon(config, options);
    try {
      for (;;) {
        const hello = await helloOrNull(config.socketPath);
        if (hello !== null) return hello;
        const code = child.exited();
        // ALREADY_RUNNING: another daemon won the home's lock; keep polling for it.
        if (code !== null && code !== DAEMON_EXIT_CODES.ALREADY_RUNNING) {
          const tail = logTail(config.logPath);
          // A daemon refusing its settings (a pahole that is not pahole…) says which: that code.
          const refused = code === DAEMON_EXIT_CODES.CONFIG_INVALID ? refusedSettings(tail) : null;
          if (refused) throw refused;
          throw new BtfdError('BTFD_ERR_DAEMON_START_FAILED',
            `the daemon exited with code ${code} while starting${tail === '' ? '' : `; last log lines:\n${tail}`}`);
        }
        if (Date.now() >= deadlineMs) {
          throw new BtfdError('BTFD_ERR_DAEMON_START_FAILED', `the daemon did not answer on ${config.socketPath} within ${timeoutMs} ms`);
        }
        await sleep(POLL_MS);
      }
    } finally {
      child.dispose();
    }
  } finally {
    lock.release();
  }
}

/**
 * The settings error a daemon that refused to start printed (`btfd daemon: CODE: message`, the
 * last such line of `output`), as a BtfdError with that code; null when there is none.
 */
export function refusedSettings(output: string): BtfdError | null {
  const matches = [...output.matchAll(/^btfd daemon: (BTFD_ERR_[A-Z_]+): (.*)$/gm)];
  const last = matches.at(-1);
  const code = last?.[1];
  return last && code !== undefined && isErrorCode(code) ? new BtfdError(code, last[2] ?? '') : null;
}

function checkFailure(stderr: string, exitCode: number | null): BtfdError {
  return refusedSettings(stderr)
    ?? new BtfdError('BTFD_ERR_DAEMON_START_FAILED', `checking the new daemon's settings failed (exit ${exitCode}): ${stderr.trim().slice(0, 500)}`);
}

/**
 * Have this client's daemon program check `config` (private dirs, its default pahole) without
 * starting: run before a running daemon is stopped for another, so that a setting the new one
 * would refuse never leaves the home without a daemon.
 * @throws BtfdError the code the new daemon would have failed with
 */
export async function checkDaemonSettings(config: Config, options: Pick<ConnectOptions, 'daemonEntry' | 'env'> = {}): Promise<void> {
  const { spawn } = await childProcess();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [options.daemonEntry ?? defaultDaemonEntry(), ...configToDaemonArgs(config), '--check'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...(options.env ?? process.env), ...configToDaemonEnv(config) },
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
    child.once('error', (err) => reject(new BtfdError('BTFD_ERR_DAEMON_START_FAILED', `cannot run ${process.execPath}: ${err.message}`, { cause: err })));
    child.once('close', (code) => (code === 0 ? resolve() : reject(checkFailure(stderr, code))));
  });
}

/**
 * Connect to the daemon of `config`'s home.
 *
 * With `autostart`, a missing daemon is started and one whose handshake differs is restarted
 * (the reason goes to `notes`). Without it, a missing daemon is BTFD_ERR_DAEMON_UNREACHABLE
 * (`isNotRunning(err)` is true), one shutting down BTFD_ERR_DAEMON_SHUTTING_DOWN, and a differing
 * one is returned as it is, with `mismatch` set.
 * @throws BtfdError BTFD_ERR_DAEMON_UNREACHABLE, BTFD_ERR_DAEMON_START_FAILED,
 *   BTFD_ERR_DAEMON_VERSION_MISMATCH
 */
export async function connectDaemon(config: Config, options: ConnectOptions): Promise<DaemonClient> {
  const expected = expectedIdentity(config, options.expect);
  const maxRestarts = options.maxRestarts ?? DEFAULT_MAX_RESTARTS;
  const notes: string[] = [];
  for (let restarts = 0; ; restarts += 1) {
    // Without autostart the hello error itself is the answer (isNotRunning() tells it apart).
    let hello = options.autostart ? await helloOrNull(config.socketPath) : await requestHello(config.socketPath);
    hello ??= await startDaemon(config, options);
    const mismatch = describeMismatch(hello, expected);
    if (mismatch === null) return createDaemonClient(config.socketPath, hello, { notes: [...notes, ...settingNotes(hello, config)] });
    if (!options.autostart) return createDaemonClient(config.socketPath, hello, { notes, mismatch });
    if (restarts >= maxRestarts) {
      throw new BtfdError('BTFD_ERR_DAEMON_VERSION_MISMATCH',
        `the daemon (pid ${hello.pid}) still differs after ${restarts} restart(s): ${mismatch}`);
    }
    // Nothing stops a working daemon before its successor is known to accept these settings.
    await checkDaemonSettings(config, options);
    notes.push(`restarting the btfd daemon (pid ${hello.pid}): ${mismatch}`);
    const exited = await stopDaemonAndWait(config.socketPath, hello.pid, options.stopTimeoutMs);
    if (!exited) {
      throw new BtfdError('BTFD_ERR_DAEMON_VERSION_MISMATCH',
        `the daemon (pid ${hello.pid}) was asked to stop over a mismatch (${mismatch}) but is still running`);
    }
  }
}
