/**
 * Uploads of new artifacts, in the background: a build never waits for them. At most
 * `concurrency` run at once; at most `maxPendingBytes` wait (beyond that new uploads are dropped
 * and counted: the remote misses them, nothing else is lost); each request is bounded by the
 * backend's timeout. `drain` (at shutdown) waits for what is queued, up to a deadline, and
 * abandons the rest.
 */
import type { RemoteCacheStatus } from '../../../shared/build-types.js';

/** One upload: resolves true when it reached the server. Never rejects. */
export type UploadJob = () => Promise<boolean>;

/** Upload figures since the daemon started. */
export type UploadStats = RemoteCacheStatus['uploads'];

export interface UploadQueue {
  /** Queue a job of `bytes`; false when it was dropped (queue full, or draining). */
  enqueue(bytes: number, job: UploadJob): boolean;
  stats(): UploadStats;
  /** Stop taking jobs; wait until the queue is empty or `timeoutMs` passed. True when empty. */
  drain(timeoutMs: number): Promise<boolean>;
}

export interface UploadQueueOptions {
  readonly concurrency: number;
  readonly maxPendingBytes: number;
}

export function createUploadQueue(options: UploadQueueOptions): UploadQueue {
  const waiting: { bytes: number; job: UploadJob }[] = [];
  let waitingBytes = 0;
  let running = 0;
  let done = 0;
  let failed = 0;
  let dropped = 0;
  let draining = false;
  let onIdle: (() => void) | null = null;

  const pump = (): void => {
    while (running < options.concurrency && waiting.length > 0) {
      const next = waiting.shift()!;
      waitingBytes -= next.bytes;
      running++;
      void next.job().then((ok) => {
        if (ok) done++;
        else failed++;
      }, () => {
        failed++;
      }).finally(() => {
        running--;
        pump();
      });
    }
    if (running === 0 && waiting.length === 0) onIdle?.();
  };

  return {
    enqueue(bytes, job) {
      if (draining || (waitingBytes + bytes > options.maxPendingBytes && waiting.length > 0)) {
        dropped++;
        return false;
      }
      waiting.push({ bytes, job });
      waitingBytes += bytes;
      pump();
      return true;
    },
    stats: () => ({ queued: waiting.length, running, done, failed, dropped }),
    async drain(timeoutMs) {
      draining = true;
      const idle = new Promise<void>((resolve) => {
        onIdle = resolve;
      });
      pump();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      });
      const empty = await Promise.race([idle.then(() => true as const), timedOut]);
      clearTimeout(timer);
      onIdle = null;
      // Whatever still waits is abandoned; running jobs end by their own timeout.
      dropped += waiting.length;
      waiting.length = 0;
      waitingBytes = 0;
      return empty;
    },
  };
}
