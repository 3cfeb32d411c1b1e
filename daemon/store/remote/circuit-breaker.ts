/**
 * The circuit breaker in front of a remote backend: after FAILURES_TO_OPEN failures in a row the
 * remote is skipped (every request answered at once with BTFD_ERR_REMOTE_UNAVAILABLE) for the
 * cooldown; then one request probes it (half-open): success closes the breaker, failure opens it
 * again. So a dead or hung server costs a build a few timeouts, not one per module.
 *
 * A miss is a success: only failures (timeouts, refusals, error answers) count.
 */
import type { RemoteCacheStatus } from '../../../shared/build-types.js';
import { remoteFailure, type RemoteBackend, type RemoteResult } from './remote-backend.js';

/** Failures in a row that open the breaker. */
export const FAILURES_TO_OPEN = 5;
/** How long an open breaker skips the remote before probing it. */
export const BREAKER_COOLDOWN_MS = 30_000;

/** The breaker as status shows it (its last error stays, whatever the state now). */
export type BreakerSnapshot = RemoteCacheStatus['breaker'];
export type BreakerState = BreakerSnapshot['state'];

/** A request let through: settle it with its outcome. */
export interface Admission {
  settle(result: RemoteResult<unknown>): void;
}

export interface CircuitBreaker {
  /** A request may go out now (when half-open, only the one probe); null: skip the remote. */
  admit(): Admission | null;
  snapshot(): BreakerSnapshot;
}

export interface BreakerOptions {
  readonly failuresToOpen?: number;
  readonly cooldownMs?: number;
  /** Wall clock in ms (tests pass their own). */
  readonly now?: () => number;
  /** Called when the state changes, with the snapshot after the change. */
  readonly onChange?: (snapshot: BreakerSnapshot) => void;
}

export function createCircuitBreaker(options: BreakerOptions = {}): CircuitBreaker {
  const failuresToOpen = options.failuresToOpen ?? FAILURES_TO_OPEN;
  const cooldownMs = options.cooldownMs ?? BREAKER_COOLDOWN_MS;
  const now = options.now ?? Date.now;
  let state: BreakerState = 'closed';
  let failures = 0;
  let retryAtMs: number | null = null;
  let probing = false;
  let lastError: BreakerSnapshot['lastError'] = null;

  const snapshot = (): BreakerSnapshot => ({ state, failures, retryAtMs, lastError });
  const become = (next: BreakerState): void => {
    if (next === state) return;
    state = next;
    options.onChange?.(snapshot());
  };

  const settle = (result: RemoteResult<unknown>, probe: boolean): void => {
    if (probe) probing = false;
    if (result.ok) {
      failures = 0;
      retryAtMs = null;
      become('closed');
      return;
    }
    failures += 1;
    lastError = { code: result.code, message: result.message, atMs: now() };
    if (probe || (state === 'closed' && failures >= failuresToOpen)) {
      retryAtMs = now() + cooldownMs;
      become('open');
    }
  };

  return {
    admit() {
      if (state === 'open' && retryAtMs !== null && now() >= retryAtMs) become('half-open');
      if (state === 'closed') return { settle: (result) => settle(result, false) };
      if (state === 'half-open' && !probing) {
        probing = true;
        return { settle: (result) => settle(result, true) };
      }
      return null;
    },
    snapshot,
  };
}

/** The backend behind a breaker: refused requests never reach the server. */
export function withCircuitBreaker(backend: RemoteBackend, breaker: CircuitBreaker): RemoteBackend {
  const guard = async <T>(request: () => Promise<RemoteResult<T>>): Promise<RemoteResult<T>> => {
    const admission = breaker.admit();
    if (admission === null) {
      const retryAtMs = breaker.snapshot().retryAtMs;
      const until = retryAtMs === null ? 'while a probe is out' : `until ${new Date(retryAtMs).toISOString()}`;
      return remoteFailure('BTFD_ERR_REMOTE_UNAVAILABLE', `${backend.location}: skipped ${until} after repeated failures`);
    }
    const result = await request();
    admission.settle(result);
    return result;
  };
  return {
    kind: backend.kind,
    location: backend.location,
    writable: backend.writable,
    get: (namespace, hash) => guard(() => backend.get(namespace, hash)),
    put: (namespace, hash, data) => guard(() => backend.put(namespace, hash, data)),
    has: (namespace, hash) => guard(() => backend.has(namespace, hash)),
    close: () => backend.close(),
  };
}
