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

/** One server-sent event from /v1/events. */
export interface SseEvent {
  readonly type: string;
  readonly data: Record<string, unknown>;
}

/** Subscribe to /v1/events; events accumulate in `events` until close(). */
export async function subscribeEvents(socketPath: string): Promise<{ readonly events: SseEvent[]; close(): void }> {
  const http = await import('node:http');
  const events: SseEvent[] = [];
  let buffer = '';
  const request = await new Promise<import('node:http').ClientRequest>((resolve, reject) => {
    const req = http.get({ socketPath, path: '/v1/events' }, (response) => {
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        buffer += chunk;
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const type = /^event: (.+)$/m.exec(block)?.[1];
          const data = /^data: (.+)$/m.exec(block)?.[1];
          if (type && data) events.push({ type, data: JSON.parse(data) as Record<string, unknown> });
        }
      });
      resolve(req);
    });
    req.on('error', reject);
  });
  return { events, close: () => request.destroy() };
}

/** Poll `check` every 50 ms until it returns a value other than undefined, or fail after `timeoutMs`. */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
