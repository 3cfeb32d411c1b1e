/**
 * Spawn the built `btfd` CLI as a user would, with an isolated BTFD_HOME.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

/** dist/client/main.js, the `btfd` bin. */
export const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../client/main.js');

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run `btfd ARGS` with env overrides; bounded by timeoutMs. */
export function runCli(args: readonly string[], env: Record<string, string>, timeoutMs = 120_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * An isolated BTFD_HOME for CLI runs. After the test, any daemon a command autostarted there is
 * stopped before the home is removed: a test must not leave a daemon behind.
 */
export function cliHome(t: TestContext): { readonly home: string; readonly env: Record<string, string> } {
  const home = mkdtempSync(path.join(os.tmpdir(), 'btfd-home-'));
  const env = { BTFD_HOME: home };
  t.after(async () => {
    await runCli(['stop'], env, 30_000);
    rmSync(home, { recursive: true, force: true });
  });
  return { home, env };
}
