/**
 * The worker pool: piscina running daemon/workers/module-worker.ts, sized to the cores. It owns
 * piscina; the rest of the engine sees two typed calls whose coded errors come back as BtfdError.
 */
import { Piscina } from 'piscina';
import type { Logger } from 'pino';
import { BtfdError } from '../../shared/errors.js';
import type { BaseDiff } from '../btf/base-diff.js';
import type {
  BaseDiffTask, DigestResult, DigestTask, RegenerateResult, RegenerateTask, RelocateResult, RelocateTask, WorkerOutcome,
} from '../workers/module-worker-types.js';

/** How long an idle worker thread lives before piscina ends it. */
const WORKER_IDLE_TIMEOUT_MS = 30_000;

export interface WorkerPool {
  digest(task: DigestTask): Promise<DigestResult>;
  regenerate(task: RegenerateTask): Promise<RegenerateResult>;
  baseDiff(task: BaseDiffTask): Promise<BaseDiff>;
  relocate(task: RelocateTask): Promise<RelocateResult>;
  /** Threads, tasks running, tasks waiting. */
  stats(): { size: number; busy: number; queued: number };
  /** Wait for running tasks, then end the threads. */
  close(): Promise<void>;
}

export function createWorkerPool(options: { readonly workers: number; readonly logger: Logger }): WorkerPool {
  const size = Math.max(1, options.workers);
  const pool = new Piscina({
    filename: new URL('../workers/module-worker.js', import.meta.url).href,
    maxThreads: size,
    minThreads: 0,
    idleTimeout: WORKER_IDLE_TIMEOUT_MS,
  });
  // A worker that dies outside a task (it failed to load, say) must not take the daemon with it:
  // its running task rejects on its own, and the pool starts a new thread for the next one.
  pool.on('error', (err: unknown) => options.logger.error({ err }, 'worker thread failed'));
  /** Tasks submitted and not yet answered (running or queued). */
  let pending = 0;

  async function run<T>(name: 'digest' | 'regenerate' | 'baseDiff' | 'relocate', task: DigestTask | RegenerateTask | BaseDiffTask | RelocateTask): Promise<T> {
    pending++;
    const result = (await pool.run(task, { name }).finally(() => pending--)) as WorkerOutcome<T>;
    if (!result.ok) throw new BtfdError(result.code, result.message);
    return result.value;
  }

  return {
    digest: (task) => run<DigestResult>('digest', task),
    regenerate: (task) => run<RegenerateResult>('regenerate', task),
    baseDiff: (task) => run<BaseDiff>('baseDiff', task),
    relocate: (task) => run<RelocateResult>('relocate', task),
    stats: () => ({ size, busy: Math.max(0, pending - pool.queueSize), queued: pool.queueSize }),
    close: () => pool.destroy(),
  };
}
