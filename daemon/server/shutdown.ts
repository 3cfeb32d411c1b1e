/**
 * The daemon's one termination path. Every exit reason (signal, idle, POST /v1/stop, fatal
 * error) calls the same function; the first call runs the ordered teardown and every later call
 * gets the same promise. A failing step is logged and the next one still runs, so a watcher
 * that fails to close never leaves the store open.
 */
import type { Logger } from 'pino';

/** One teardown step, run in order. */
export interface ShutdownStep {
  readonly name: string;
  run(): Promise<void> | void;
}

/** Why the daemon stops; main.ts turns it into an exit code. */
export type ShutdownReason =
  | { readonly kind: 'request' }
  | { readonly kind: 'idle' }
  /** The socket or home was removed or taken over (see home-guard.ts). */
  | { readonly kind: 'orphaned'; readonly what: string }
  | { readonly kind: 'signal'; readonly signal: NodeJS.Signals }
  | { readonly kind: 'fatal'; readonly error: unknown };

export interface Shutdown {
  /** Start the teardown (idempotent: the first reason wins; the same promise is returned). */
  (reason: ShutdownReason): Promise<ShutdownReason>;
  /** True once the teardown has begun. */
  readonly started: () => boolean;
  /** Settles with the winning reason once the teardown is complete, whoever started it. */
  readonly completed: Promise<ShutdownReason>;
}

export function createShutdown(steps: () => readonly ShutdownStep[], logger: Logger): Shutdown {
  let running: Promise<ShutdownReason> | undefined;
  let complete!: (reason: ShutdownReason) => void;
  const completed = new Promise<ShutdownReason>((resolve) => { complete = resolve; });

  const run = async (reason: ShutdownReason): Promise<ShutdownReason> => {
    logger.info({ reason: describeReason(reason) }, 'shutdown started');
    for (const step of steps()) {
      try {
        await step.run();
      } catch (err) {
        logger.error({ err, step: step.name }, 'shutdown step failed');
      }
    }
    logger.info({ reason: describeReason(reason) }, 'shutdown complete');
    complete(reason);
    return reason;
  };

  const shutdown = (reason: ShutdownReason): Promise<ShutdownReason> => {
    running ??= run(reason);
    return running;
  };
  return Object.assign(shutdown, { started: () => running !== undefined, completed });
}

/** A short text for logs: `request`, `idle`, `signal SIGTERM`, `fatal`. */
export function describeReason(reason: ShutdownReason): string {
  if (reason.kind === 'signal') return `signal ${reason.signal}`;
  return reason.kind === 'orphaned' ? `orphaned: ${reason.what}` : reason.kind;
}
