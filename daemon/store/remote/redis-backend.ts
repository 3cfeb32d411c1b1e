/**
 * The Redis backend (ccache's redis storage is the model): the bazel-remote namespaces as keys,
 * `btfd:[<salt>:]ac:<key>` and `btfd:[<salt>:]cas:<sha256>`, so a new salt leaves every old entry
 * behind (Redis' TTL or its eviction policy clears them). With a TTL, a write sets it and a read
 * renews it (GETEX, Redis ≥ 6.2), so entries in use stay.
 *
 * ioredis keeps one connection and reconnects by itself; `rediss://` is TLS. A command waits at
 * most the timeout (ioredis' commandTimeout, and remoteCall's deadline above it).
 */
import { Redis } from 'ioredis';
import { describeError, remoteCall, remoteFailure, type RemoteBackend, type RemoteFailure, type RemoteNamespace } from './remote-backend.js';

/** Pause between reconnect attempts grows to this. */
const MAX_RECONNECT_DELAY_MS = 2_000;

export interface RedisBackendOptions {
  /** redis(s)://[user:password@]host[:port][/db], credentials included. */
  readonly url: string;
  /** The password, instead of one in the URL. */
  readonly token: string | null;
  /** Where it is, without credentials. */
  readonly location: string;
  readonly salt: string;
  readonly timeoutMs: number;
  readonly ttlSeconds: number | null;
  /** Connection errors ioredis reports between commands (it reconnects by itself). */
  readonly onConnectionError?: (message: string) => void;
}

function classify(what: string): (err: unknown) => RemoteFailure {
  return (err) => {
    const message = describeError(err);
    if (/NOAUTH|WRONGPASS|NOPERM/.test(message)) return remoteFailure('BTFD_ERR_REMOTE_AUTH', `${what}: ${message}`);
    if (/timed out/i.test(message)) return remoteFailure('BTFD_ERR_REMOTE_TIMEOUT', `${what}: ${message}`);
    // A reply from the server (an `ERR …`, `OOM …`) is its error; anything else is the connection.
    if ((err as { name?: unknown } | null)?.name === 'ReplyError') return remoteFailure('BTFD_ERR_REMOTE_FAILED', `${what}: ${message}`);
    return remoteFailure('BTFD_ERR_REMOTE_UNREACHABLE', `${what}: ${message}`);
  };
}

/** The key prefix for a salt: the salt is part of every key, so changing it disowns them all. */
export function redisKeyPrefix(salt: string): string {
  return salt === '' ? 'btfd:' : `btfd:${salt}:`;
}

/** Open a backend on a Redis server; it connects in the background. */
export function createRedisBackend(options: RedisBackendOptions): RemoteBackend {
  const { timeoutMs, ttlSeconds } = options;
  const client = new Redis(options.url, {
    keyPrefix: redisKeyPrefix(options.salt),
    ...(options.token === null ? {} : { password: options.token }),
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt) => Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS),
  });
  // Without a listener an 'error' event would be an uncaught exception.
  client.on('error', (err: unknown) => options.onConnectionError?.(describeError(err)));
  const keyOf = (namespace: RemoteNamespace, hash: string): string => `${namespace}:${hash}`;
  const describe = (command: string, namespace: RemoteNamespace, hash: string): string =>
    `${command} ${options.location} ${keyOf(namespace, hash.slice(0, 12))}…`;

  return {
    kind: 'redis',
    location: options.location,
    writable: true,
    get: (namespace, hash) => {
      const what = describe('GET', namespace, hash);
      const key = keyOf(namespace, hash);
      return remoteCall(what, timeoutMs, () => (ttlSeconds === null ? client.getBuffer(key) : client.getexBuffer(key, 'EX', ttlSeconds)), classify(what));
    },
    put: (namespace, hash, data) => {
      const what = describe('SET', namespace, hash);
      const key = keyOf(namespace, hash);
      return remoteCall(what, timeoutMs, async () => {
        await (ttlSeconds === null ? client.set(key, data) : client.set(key, data, 'EX', ttlSeconds));
      }, classify(what));
    },
    has: (namespace, hash) => {
      const what = describe('EXISTS', namespace, hash);
      return remoteCall(what, timeoutMs, async () => (await client.exists(keyOf(namespace, hash))) > 0, classify(what));
    },
    async close() {
      const quit = await remoteCall('QUIT', timeoutMs, () => client.quit(), classify('QUIT'));
      if (!quit.ok) client.disconnect();
    },
  };
}
