/**
 * btfd as a user runs it: the CLI against a daemon of a private home (BTFD_HOME), plus a status
 * poll straight over the socket so waiting for the daemon costs no Node start per sample.
 */
import { request } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StatusResponse } from '../../shared/protocol/status.js';
import { run, type Finished } from './run-process.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const CLI = path.join(repo, 'dist/client/main.js');
export const SHIM = path.join(repo, 'client/bin/btfd-pahole');

export interface BuildJson {
  readonly modules: number;
  readonly fresh: number;
  readonly restored: number;
  readonly relocated: number;
  readonly regenerated: number;
  readonly failed: number;
  /** The engine's own time, without the CLI's start. */
  readonly seconds: number;
}

export interface Btfd {
  readonly home: string;
  readonly env: NodeJS.ProcessEnv;
  cli(args: readonly string[]): Promise<Finished>;
  /**
   * `btfd build DIR --base BASE --pahole-flags F --json`: the wall time and the report. Failed
   * modules are the report's to show (a distro module can carry a `.BTF_ids` btfd cannot read
   * back); only a build that did not run is an error.
   */
  build(dir: string, base: string, flags: string): Promise<{ seconds: number; report: BuildJson }>;
  start(): Promise<void>;
  stop(): Promise<void>;
  status(): Promise<StatusResponse>;
  /** Resolves once the daemon has reconciled and `dir` had a pass that ended after `sinceMs`. */
  waitSettled(dir: string, sinceMs: number, timeoutMs: number): Promise<StatusResponse>;
}

export function createBtfd(home: string, pahole: string): Btfd {
  const env: NodeJS.ProcessEnv = { ...process.env, BTFD_HOME: home, BTFD_PAHOLE: pahole };
  delete env['BTFD_SOCKET'];
  let socketPath: string | null = null;
  const cli = (args: readonly string[]) => run(process.execPath, [CLI, ...args], { env });

  function getStatus(): Promise<StatusResponse> {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: socketPath!, path: '/v1/status', method: 'GET' }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString()) as StatusResponse);
          } catch (err) {
            reject(err);
          }
        });
      });
      req.on('error', reject);
      req.end();
    });
  }

  return {
    home,
    env,
    cli,
    async build(dir, base, flags) {
      const out = await run(process.execPath, [CLI, 'build', dir, '--base', base, '--pahole-flags', flags, '--json'], { env, allowFailure: true });
      const report = JSON.parse(out.stdout || '{}') as BuildJson;
      if (report.modules === undefined) throw new Error(`btfd build did not run: ${out.stdout.slice(0, 2000)} ${out.stderr.slice(0, 2000)}`);
      return { seconds: out.seconds, report };
    },
    async start() {
      await cli(['start']);
      if (socketPath === null) socketPath = (JSON.parse((await cli(['status', '--json'])).stdout) as StatusResponse).socketPath;
    },
    async stop() {
      await run(process.execPath, [CLI, 'stop'], { env, allowFailure: true });
    },
    status: getStatus,
    async waitSettled(dir, sinceMs, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const s = await getStatus().catch(() => null);
        const tree = s?.trees.find((t) => t.dir === dir);
        if (s && !s.warming && tree && tree.ready && !tree.building && tree.lastPass && tree.lastPass.atMs >= sinceMs) return s;
        if (Date.now() > deadline) throw new Error(`the daemon did not settle ${dir} within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
  };
}
