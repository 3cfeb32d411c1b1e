/**
 * The remote tier for a configuration: the backend for its URL, behind the circuit breaker,
 * behind the read-only wrapper when configured, under the AC/CAS protocol of remote-tier.ts.
 *
 * The backend's client library (undici or ioredis) is imported on the first request, not at
 * startup: loading them takes longer than a daemon takes to start, and a local-only daemon never
 * needs them.
 */
import type { Logger } from 'pino';
import type { RemoteCacheConfig } from '../../../shared/config.js';
import { createCircuitBreaker, withCircuitBreaker } from './circuit-breaker.js';
import { readOnlyBackend } from './read-only.js';
import { describeError, remoteFailure, type RemoteBackend } from './remote-backend.js';
import { createRemoteTier, type RemoteCounterName, type RemoteTier } from './remote-tier.js';

export interface OpenRemoteOptions {
  readonly config: RemoteCacheConfig;
  readonly count: (name: RemoteCounterName, by?: number) => void;
  readonly logger: Logger;
}

/** Open the remote tier; it connects lazily, so a dead server never delays the daemon's start. */
export function openRemoteTier(options: OpenRemoteOptions): RemoteTier {
  const { config } = options;
  const log = options.logger.child({ component: 'remote-cache' });
  const token = config.token?.reveal() ?? null;
  const raw = lazyBackend(config.kind, config.location, async () => config.kind === 'http'
    ? (await import('./http-backend.js')).createHttpBackend({ url: config.url.reveal(), token, timeoutMs: config.timeoutMs })
    : (await import('./redis-backend.js')).createRedisBackend({
      url: config.url.reveal(), token, location: config.location, salt: config.salt, timeoutMs: config.timeoutMs, ttlSeconds: config.ttlSeconds,
      onConnectionError: (detail) => log.debug({ location: config.location, detail }, 'redis connection error'),
    }));
  const breaker = createCircuitBreaker({
    onChange: (snapshot) => {
      const data = { location: config.location, state: snapshot.state, failures: snapshot.failures, retryAtMs: snapshot.retryAtMs, lastError: snapshot.lastError };
      if (snapshot.state === 'open') log.warn(data, 'remote cache circuit breaker opened: the remote is skipped for a while');
      else log.info(data, 'remote cache circuit breaker changed');
    },
  });
  const guarded = withCircuitBreaker(raw, breaker);
  const backend = config.readOnly ? readOnlyBackend(guarded) : guarded;
  log.info({ kind: config.kind, location: config.location, readOnly: config.readOnly, salted: config.salt !== '', timeoutMs: config.timeoutMs }, 'remote cache tier opened');
  return createRemoteTier({ backend, breaker, salt: config.salt, timeoutMs: config.timeoutMs, count: options.count, log });
}

/** A backend created on its first request; a failure to create it is every request's failure. */
function lazyBackend(kind: RemoteBackend['kind'], location: string, create: () => Promise<RemoteBackend>): RemoteBackend {
  let created: Promise<RemoteBackend> | null = null;
  const backend = (): Promise<RemoteBackend> => (created ??= create());
  const use = async <T>(request: (b: RemoteBackend) => Promise<T>): Promise<T | ReturnType<typeof remoteFailure>> => {
    let b: RemoteBackend;
    try {
      b = await backend();
    } catch (err) {
      return remoteFailure('BTFD_ERR_REMOTE_FAILED', `${location}: the ${kind} client could not be loaded: ${describeError(err)}`);
    }
    return request(b);
  };
  return {
    kind,
    location,
    writable: true,
    get: (namespace, hash) => use((b) => b.get(namespace, hash)),
    put: (namespace, hash, data) => use((b) => b.put(namespace, hash, data)),
    has: (namespace, hash) => use((b) => b.has(namespace, hash)),
    async close() {
      if (created === null) return;
      await (await created.catch(() => null))?.close();
    },
  };
}
