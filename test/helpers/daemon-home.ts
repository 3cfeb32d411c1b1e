/**
 * A real daemon (`dist/daemon/main.js`, spawned by the real client) on a private BTFD_HOME, for
 * the reliability tests: the client, the home's config and env, its log lines, and cleanup that
 * stops (or kills) the daemon before the home goes.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { connectDaemon, waitForExit } from '../../client/connect.js';
import type { DaemonClient } from '../../client/daemon-client.js';
import { resolveConfig, type Config, type ConfigFlags } from '../../shared/config.js';

export interface DaemonHome {
  readonly home: string;
  readonly config: Config;
  readonly env: NodeJS.ProcessEnv;
  readonly client: DaemonClient;
  readonly pid: number;
  /** The log file's JSON lines. */
  logLines(): Array<Record<string, unknown>>;
}

/** The test's environment without the caller's BTFD_* settings, plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('BTFD_')));
  // pahole 1.24 adds .BTF through $LLVM_OBJCOPY; the daemon inherits this env, as kbuild's would.
  env['LLVM_OBJCOPY'] ??= 'objcopy';
  return { ...env, ...extra };
}

export function readLogLines(file: string): Array<Record<string, unknown>> {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').flatMap((line) => {
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

/** True while `pid` runs. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Start a daemon for `home` (created if missing); stopped, or killed, after the test. */
export async function startDaemonHome(t: TestContext, home: string, options: { readonly flags?: ConfigFlags; readonly env?: Record<string, string> } = {}): Promise<DaemonHome> {
  fs.mkdirSync(home, { recursive: true, mode: 0o700 });
  const env = cleanEnv({ BTFD_HOME: home, ...options.env });
  const config = resolveConfig({ env, flags: options.flags ?? {} });
  const client = await connectDaemon(config, { autostart: true, env, startTimeoutMs: 20_000 });
  const pid = client.identity.pid;
  t.after(async () => {
    try {
      await client.stop();
    } catch {
      // already gone
    }
    if (!(await waitForExit(pid, 10_000)) && pidAlive(pid)) process.kill(pid, 'SIGKILL');
    client.close();
  });
  return { home, config, env, client, pid, logLines: () => readLogLines(path.join(config.stateDir, 'btfd.log')) };
}
