/**
 * The remote tier for a configuration: the backend for its URL, behind the circuit breaker,
 * behind the read-only wrapper when configured, under the AC/CAS protocol of remote-tier.ts.
 */
import type { Logger } from 'pino';
import type { RemoteCacheConfig } from '../../../shared/config.js';
import { createCircuitBreaker, withCircuitBreaker } from './circuit-breaker.js';
import { createHttpBackend } from './http-backend.js';
import { readOnlyBackend } from './read-only.js';
import { createRedisBackend } from './redis-backend.js';
import type { RemoteBackend } from './remote-backend.js';
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
  const raw: RemoteBackend = config.kind === 'http'
    ? createHttpBackend({ url: config.url.reveal(), token, timeoutMs: config.timeoutMs })
    : createRedisBackend({
      url: config.url.reveal(), token, location: config.location, salt: config.salt, timeoutMs: config.timeoutMs, ttlSeconds: config.ttlSeconds,
      onConnectionError: (detail) => log.debug({ location: config.location, detail }, 'redis connection error'),
    });
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
