/**
 * The worker pool: piscina running daemon/workers/module-worker.ts, sized to the cores. It owns
 * piscina; the rest of the engine sees typed calls whose coded errors come back as BtfdError.
 *
 * Tasks wait for a thread here, in a FIFO of the pool's own, rather than in piscina's queue: a
 * waiting task whose build was cancelled (its AbortSignal fired) leaves the queue and rejects with
 * BTFD_ERR_BUILD_CANCELLED, while a task that has a thread always runs to its end (piscina would
 * terminate the thread, and pahole with it, mid-write of its scratch files).
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
/**
 * A worker's young generation, which V8 lets grow to 48 MB. Tasks keep their big data in buffers
 * outside the V8 heap and make short-lived garbage, so a small one costs only more frequent, cheap
 * scavenges; it kept a 2-thread pool ~15 MB smaller after digesting 150 modules (8 MB saved nothing).
 */
const WORKER_YOUNG_GENERATION_MB = 4;

export interface WorkerPool {
  /** Hash a module; `signal` drops the task while it waits for a thread. */
  digest(task: DigestTask, signal?: AbortSignal): Promise<DigestResult>;
  /** Run pahole for a module; `signal` drops the task while it waits for a thread. */
  regenerate(task: RegenerateTask, signal?: AbortSignal): Promise<RegenerateResult>;
  baseDiff(task: BaseDiffTask): Promise<BaseDiff>;
  /** Relocate a module's cached BTF; `signal` drops the task while it waits for a thread. */
  relocate(task: RelocateTask, signal?: AbortSignal): Promise<RelocateResult>;
  /** Threads, tasks running, tasks waiting. */
  stats(): { size: number; busy: number; queued: number };
  /** Wait for running tasks, then end the threads. */
  close(): Promise<void>;
}

/** A task waiting for a thread. */
interface Waiter {
  start(): void;
}

function cancelled(): BtfdError {
  return new BtfdError('BTFD_ERR_BUILD_CANCELLED', 'the build was cancelled before this module got a worker');
}

export function createWorkerPool(options: { readonly workers: number; readonly logger: Logger }): WorkerPool {
  const size = Math.max(1, options.workers);
  const pool = new Piscina({
    filename: new URL('../workers/module-worker.js', import.meta.url).href,
    maxThreads: size,
    minThreads: 0,
    idleTimeout: WORKER_IDLE_TIMEOUT_MS,
    resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
  });
  // A worker that dies outside a task (it failed to load, say) must not take the daemon with it:
  // its running task rejects on its own, and the pool starts a new thread for the next one.
  pool.on('error', (err: unknown) => options.logger.error({ err }, 'worker thread failed'));
  let running = 0;
  const waiting: Waiter[] = [];

  /** Resolves once the task may run (a thread is free); rejects when `signal` fires first. */
  function admit(signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return Promise.reject(cancelled());
    if (running < size) {
      running++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        const index = waiting.indexOf(waiter);
        if (index >= 0) waiting.splice(index, 1);
        reject(cancelled());
      };
      const waiter: Waiter = {
        start() {
          signal?.removeEventListener('abort', onAbort);
          running++;
          resolve();
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      waiting.push(waiter);
    });
  }

  function release(): void {
    running--;
    waiting.shift()?.start();
  }

  async function run<T>(
    name: 'digest' | 'regenerate' | 'baseDiff' | 'relocate', task: DigestTask | RegenerateTask | BaseDiffTask | RelocateTask, signal: AbortSignal | undefined,
  ): Promise<T> {
    await admit(signal);
    let result: WorkerOutcome<T>;
    try {
      result = (await pool.run(task, { name })) as WorkerOutcome<T>;
    } finally {
      release();
    }
    if (!result.ok) throw new BtfdError(result.code, result.message);
    return result.value;
  }

  return {
    digest: (task, signal) => run<DigestResult>('digest', task, signal),
    regenerate: (task, signal) => run<RegenerateResult>('regenerate', task, signal),
    baseDiff: (task) => run<BaseDiff>('baseDiff', task, undefined),
    relocate: (task, signal) => run<RelocateResult>('relocate', task, signal),
    stats: () => ({ size, busy: running, queued: waiting.length }),
    close: () => pool.destroy(),
  };
}
