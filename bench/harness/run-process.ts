/** Running and timing child processes the same way for btfd and for the naive commands. */
import { spawn } from 'node:child_process';

export interface Finished {
  readonly seconds: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** A non-zero exit is an error unless this is set. */
  readonly allowFailure?: boolean;
}

/** Run `cmd args…` to its exit; `seconds` is the wall time from spawn to exit. */
export function run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const seconds = (performance.now() - t0) / 1000;
      const result = { seconds, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
      if ((code !== 0 || signal !== null) && !options.allowFailure) {
        reject(new Error(`${cmd} ${args.join(' ')} exited ${code ?? signal}: ${result.stderr.slice(-2000)}`));
      } else resolve(result);
    });
  });
}

/** Run `sh -c script` (for pipelines such as `find … | xargs -P pahole`). */
export function sh(script: string, options: RunOptions = {}): Promise<Finished> {
  return run('sh', ['-c', script], options);
}

/** Quote one word for sh. */
export function q(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}
