/**
 * `--no-daemon`: the command runs in a private daemon of its own, started for it and ended with
 * it. It listens on a socket only this command knows, takes no home lock (the cache store is safe
 * to share with the home's daemon), watches nothing, and exits when this process closes its stdin
 * (or dies). So the CLI never loads the engine itself, and both paths speak the same protocol.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { configToDaemonArgs, configToDaemonEnv, type Config } from '../shared/config.js';
import { BtfdError } from '../shared/errors.js';
import { ensurePrivateDir } from '../shared/paths.js';
import { defaultDaemonEntry, DEFAULT_START_TIMEOUT_MS, logTail, refusedSettings } from './connect.js';
import { createDaemonClient, requestHello, type DaemonClient } from './daemon-client.js';

const POLL_MS = 25;

/** A one-shot daemon and a client connected to it; close() ends the daemon and waits for it. */
export interface OneshotDaemon {
  readonly client: DaemonClient;
  close(): Promise<void>;
}

export async function startOneshotDaemon(config: Config, options: { readonly env?: NodeJS.ProcessEnv; readonly daemonEntry?: string } = {}): Promise<OneshotDaemon> {
  ensurePrivateDir(config.runtimeDir);
  ensurePrivateDir(config.stateDir);
  // Short: the runtime dir was chosen so the home's socket fits sun_path; this name is shorter.
  const socketPath = path.join(config.runtimeDir, `o${randomBytes(4).toString('hex')}.sock`);
  const logFd = fs.openSync(config.logPath, 'a', 0o600);
  const child = spawn(process.execPath, [options.daemonEntry ?? defaultDaemonEntry(), ...configToDaemonArgs(config), '--oneshot-socket', socketPath], {
    stdio: ['pipe', logFd, logFd],
    env: { ...(options.env ?? process.env), ...configToDaemonEnv(config) },
  });
  fs.closeSync(logFd);
  let exitCode: number | null = null;
  const exited = new Promise<void>((resolve) => child.once('exit', (code, signal) => {
    exitCode = code ?? (signal === null ? 1 : 128);
    resolve();
  }));
  const close = async (): Promise<void> => {
    child.stdin?.end();
    await exited;
  };
  try {
    const deadline = Date.now() + DEFAULT_START_TIMEOUT_MS;
    for (;;) {
      const hello = await requestHello(socketPath).catch(() => null);
      if (hello !== null) return { client: createDaemonClient(socketPath, hello), close };
      if (exitCode !== null) {
        const tail = logTail(config.logPath);
        const refused = refusedSettings(tail);
        if (refused) throw refused;
        throw new BtfdError('BTFD_ERR_DAEMON_START_FAILED', `the engine process exited with code ${exitCode} while starting${tail === '' ? '' : `; last log lines:\n${tail}`}`);
      }
      if (Date.now() >= deadline) throw new BtfdError('BTFD_ERR_DAEMON_START_FAILED', `the engine process did not answer within ${DEFAULT_START_TIMEOUT_MS} ms`);
      await sleep(POLL_MS);
    }
  } catch (err) {
    await close();
    throw err;
  }
}
