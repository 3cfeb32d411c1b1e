/**
 * Settling btfd's own writes. A module btfd has just installed is racily clean: its stamp lies
 * within the racy window of the stat that recorded it, so the next build would hash it again (on
 * 1,121 modules the first no-op build after a cold build or a restore hashed them all: 7–12 s).
 * Once the window has passed, those modules are hashed again in the background, one at a time (a
 * build that starts meanwhile keeps the pool), each under its file lock, and recorded with that
 * later stat, so the next build trusts them.
 */
import type { Logger } from 'pino';
import { RACY_WINDOW_NS } from '../store/stat-cache.js';
import type { TreeContext } from './context.js';

/** The coarsest racy window, with a margin: by then no fresh write is racy on any filesystem. */
const SETTLE_AFTER_MS = Number(RACY_WINDOW_NS / 1_000_000n) + 100;

export interface OwnWriteSettler {
  /** Settle these modules, just installed by a build in `ctx`, once the racy window has passed. */
  add(ctx: TreeContext, modulePaths: readonly string[]): void;
  /** Stop: the module being hashed finishes, the rest are left to the next build. */
  close(): Promise<void>;
}

export interface OwnWriteSettlerOptions {
  /** Hash one module again if it is still racy in the stat cache; true when it did. */
  readonly settle: (ctx: TreeContext, modulePath: string) => Promise<boolean>;
  readonly log: Logger;
  readonly afterMs?: number;
}

export function createOwnWriteSettler(options: OwnWriteSettlerOptions): OwnWriteSettler {
  const afterMs = options.afterMs ?? SETTLE_AFTER_MS;
  /** Module → its tree's context and when it may be settled (insertion order is time order). */
  const pending = new Map<string, { ctx: TreeContext; readyAt: number }>();
  let timer: NodeJS.Timeout | null = null;
  let draining: Promise<void> | null = null;
  let closed = false;

  function schedule(): void {
    if (closed || timer || draining || pending.size === 0) return;
    const [first] = pending.values();
    timer = setTimeout(() => {
      timer = null;
      draining = drain().finally(() => {
        draining = null;
        schedule();
      });
    }, Math.max(0, first!.readyAt - Date.now()));
    // A one-shot engine (--no-daemon, a test) does not stay alive for this.
    timer.unref();
  }

  async function drain(): Promise<void> {
    const started = performance.now();
    let settled = 0;
    for (const [modulePath, { ctx, readyAt }] of pending) {
      if (closed || readyAt > Date.now()) break;
      pending.delete(modulePath);
      try {
        if (await options.settle(ctx, modulePath)) settled++;
      } catch (err) {
        // Gone or changed meanwhile: the next build sees it as it is.
        options.log.debug({ module: modulePath, err }, 'settling a module failed');
      }
    }
    if (settled > 0) options.log.debug({ settled, ms: Math.round(performance.now() - started) }, 'own writes settled');
  }

  return {
    add(ctx, modulePaths) {
      const { signal: _signal, ...untied } = ctx;
      const readyAt = Date.now() + afterMs;
      for (const modulePath of modulePaths) {
        // Re-added modules move to the end: insertion order stays readiness order.
        pending.delete(modulePath);
        pending.set(modulePath, { ctx: untied, readyAt });
      }
      schedule();
    },
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      pending.clear();
      await draining;
    },
  };
}
