/**
 * Idle exit: fire `onIdle` once `timeoutMs` passed with no request in flight and none started.
 *
 * Every request brackets itself with begin()/end(), so a long streamed build keeps the daemon
 * alive however long it runs. hold() is the hook for work that is not a request (watching
 * trees): while any hold is taken the timer never fires.
 */

export interface IdleTimer {
  /** A request started: disarm. */
  begin(): void;
  /** A request finished: re-arm when nothing else is in flight. */
  end(): void;
  /** Keep the daemon alive until the returned release function is called (idempotent). */
  hold(): () => void;
  /** The timeout in force: 0 when idle exit is off or held. */
  effectiveTimeoutMs(): number;
  /** Arm the timer for the first time (after the daemon listens). */
  start(): void;
  /** Disarm for good (shutdown). */
  stop(): void;
}

export interface IdleTimerOptions {
  /** 0 disables idle exit. */
  readonly timeoutMs: number;
  readonly onIdle: () => void;
}

export function createIdleTimer(options: IdleTimerOptions): IdleTimer {
  let inFlight = 0;
  let holds = 0;
  let started = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  const disarm = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  };
  const arm = (): void => {
    disarm();
    if (!started || stopped || options.timeoutMs <= 0 || inFlight > 0 || holds > 0) return;
    timer = setTimeout(() => {
      timer = undefined;
      stopped = true;
      options.onIdle();
    }, options.timeoutMs);
  };

  return {
    begin() {
      inFlight += 1;
      disarm();
    },
    end() {
      inFlight = Math.max(0, inFlight - 1);
      arm();
    },
    hold() {
      holds += 1;
      disarm();
      let released = false;
      return () => {
        if (released) return;
        released = true;
        holds -= 1;
        arm();
      };
    },
    effectiveTimeoutMs() {
      return holds > 0 || stopped ? 0 : options.timeoutMs;
    },
    start() {
      started = true;
      arm();
    },
    stop() {
      stopped = true;
      disarm();
    },
  };
}
