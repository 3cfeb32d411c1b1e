/**
 * An append-only log destination that never throws into the daemon.
 *
 * Why not pino's synchronous destination: on a full disk (ENOSPC), a read-only remount (EROFS)
 * or a revoked permission, `fs.writeSync` throws from every log call — inside request handlers,
 * inside the error handler, inside the fatal handler — and a daemon that cannot log is then a
 * daemon that cannot answer. Why not SonicBoom's async mode alone: after a write error it keeps
 * the failed buffer and retries it forever, so nothing is ever dropped and nothing is counted.
 *
 * Contract: `write()` queues the line and returns; one `fs.write` at a time drains the queue.
 * A queue over MAX_QUEUED_BYTES drops the new line; a failed write drops its batch. Dropped
 * lines are counted (status and metrics show the count and the last error), and once writing
 * works again one line says how many were lost. `flushSync()` is for the exit path only.
 */
import fs from 'node:fs';

/** Bytes of log lines waiting for the disk before new lines are dropped. */
export const MAX_QUEUED_BYTES = 1024 * 1024;

/** What the sink has done so far. */
export interface LogSinkStats {
  /** Lines written to the file. */
  readonly written: number;
  /** Lines lost: the queue was full, or their write failed. */
  readonly dropped: number;
  /** The last write error's code (ENOSPC, EROFS, …) and when; null while every write worked. */
  readonly lastError: { readonly code: string; readonly message: string; readonly atMs: number } | null;
}

export interface LogSink {
  /** Queue one serialized line (pino calls this); never throws. */
  write(line: string): boolean;
  /** Write what is queued now, synchronously; errors are counted, not thrown. */
  flushSync(): void;
  stats(): LogSinkStats;
  /** Flush what is queued, then close the file (idempotent). */
  end(): void;
}

function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n += 1;
  return n;
}

/**
 * A sink appending to `target`: a path (opened 0600, append) or an open fd (stdout).
 * @param now the clock for lastError; Date.now by default.
 */
export function createLogSink(target: string | number, options: { readonly mode?: number; readonly now?: () => number } = {}): LogSink {
  const fd = typeof target === 'number' ? target : fs.openSync(target, 'a', options.mode ?? 0o600);
  const ownsFd = typeof target !== 'number';
  const now = options.now ?? Date.now;
  let queue: string[] = [];
  let queuedBytes = 0;
  let writing = false;
  let closed = false;
  let written = 0;
  let dropped = 0;
  /** Drops not yet reported in the file itself. */
  let unreported = 0;
  let lastError: LogSinkStats['lastError'] = null;
  /** A write failed part way: the file ends inside a line, which the next write must end first. */
  let torn = false;

  const fail = (err: unknown, lines: number): void => {
    dropped += lines;
    unreported += lines;
    const e = err as NodeJS.ErrnoException;
    lastError = { code: typeof e?.code === 'string' ? e.code : 'EIO', message: e instanceof Error ? e.message : String(err), atMs: now() };
  };

  /** The batch to write next, with the line that reports earlier drops in front. */
  const takeBatch = (): { text: string; lines: number } => {
    let text = queue.join('');
    let lines = countLines(text);
    if (unreported > 0) {
      text = `${JSON.stringify({ level: 40, time: now(), component: 'log', dropped: unreported, msg: 'log lines dropped' })}\n${text}`;
      lines += 1;
    }
    if (torn) text = `\n${text}`;
    queue = [];
    queuedBytes = 0;
    return { text, lines };
  };

  const drain = (): void => {
    if (writing || closed || queue.length === 0) return;
    writing = true;
    const { text, lines } = takeBatch();
    const reported = unreported;
    const buffer = Buffer.from(text);
    const writeFrom = (offset: number): void => {
      fs.write(fd, buffer, offset, buffer.length - offset, null, (err, n) => {
        if (err) {
          // The batch's own lines are lost; the drop report in front of it is not a line we owe.
          fail(err, reported > 0 ? lines - 1 : lines);
          torn ||= offset > 0;
        } else if (offset + n < buffer.length) {
          writeFrom(offset + n);
          return;
        } else {
          written += reported > 0 ? lines - 1 : lines;
          unreported -= reported;
          torn = false;
        }
        writing = false;
        drain();
      });
    };
    writeFrom(0);
  };

  return {
    write(line) {
      if (closed) return true;
      const bytes = Buffer.byteLength(line);
      if (queuedBytes + bytes > MAX_QUEUED_BYTES) {
        dropped += 1;
        unreported += 1;
        return false;
      }
      queue.push(line);
      queuedBytes += bytes;
      // Batch the lines of one tick into one write.
      if (!writing && queue.length === 1) setImmediate(drain);
      return true;
    },
    flushSync() {
      if (queue.length === 0 && unreported === 0) return;
      const reported = unreported;
      const { text, lines } = takeBatch();
      const buffer = Buffer.from(text);
      let offset = 0;
      try {
        while (offset < buffer.length) offset += fs.writeSync(fd, buffer, offset);
        written += reported > 0 ? lines - 1 : lines;
        unreported -= reported;
        torn = false;
      } catch (err) {
        fail(err, reported > 0 ? lines - 1 : lines);
        torn ||= offset > 0;
      }
    },
    stats: () => ({ written, dropped, lastError }),
    end() {
      if (closed) return;
      this.flushSync();
      closed = true;
      if (!ownsFd) return;
      // An async write in flight owns the fd until its callback runs.
      const close = (): void => {
        if (writing) setTimeout(close, 1);
        else fs.close(fd, () => {});
      };
      close();
    },
  };
}
