/**
 * The HTTP backend: the bazel-remote HTTP cache protocol — `GET/PUT/HEAD <prefix>/ac/<sha256>` and
 * `<prefix>/cas/<sha256>` — as bazel-remote, BuildBuddy and nginx with WebDAV PUT speak it. The
 * URL's path is the prefix, as with bazel's `--remote_cache`.
 *
 * One undici pool per server keeps connections alive between requests (a restore is a few small
 * requests per module); TLS for https:// URLs is Node's, so NODE_EXTRA_CA_CERTS trusts a private
 * CA. Credentials (the URL's `user:password` for Basic, or a bearer token) go only into the
 * Authorization header; the URL used for requests and messages has none.
 */
import { Pool, errors as undiciErrors } from 'undici';
import {
  describeError, MAX_REMOTE_VALUE_BYTES, remoteCall, remoteFailure, type RemoteBackend, type RemoteFailure, type RemoteNamespace,
} from './remote-backend.js';

/** Connections kept to the server: lookups of a build (16 modules in flight) plus uploads. */
const HTTP_CONNECTIONS = 24;
/** An idle connection is kept this long for the next request. */
const KEEP_ALIVE_MS = 30_000;

export interface HttpBackendOptions {
  /** http(s)://[user:password@]host[:port][/prefix], credentials included. */
  readonly url: string;
  /** A bearer token, instead of credentials in the URL. */
  readonly token: string | null;
  /** Each request (connecting included) fails after this long. */
  readonly timeoutMs: number;
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

/** What a thrown request error means: the server was slow, or not there (TLS included). */
function classify(what: string): (err: unknown) => RemoteFailure {
  return (err) => {
    const code = (err as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && TIMEOUT_CODES.has(code)) return remoteFailure('BTFD_ERR_REMOTE_TIMEOUT', `${what}: ${describeError(err)}`);
    if (err instanceof undiciErrors.ResponseExceededMaxSizeError) return remoteFailure('BTFD_ERR_REMOTE_FAILED', `${what}: ${describeError(err)}`);
    return remoteFailure('BTFD_ERR_REMOTE_UNREACHABLE', `${what}: ${describeError(err)}`);
  };
}

/** A thrown answer that is an HTTP status we do not take as success or miss. */
class StatusError extends Error {
  constructor(readonly statusCode: number) {
    super(`HTTP ${statusCode}`);
  }
}

function statusFailure(what: string): (err: unknown) => RemoteFailure {
  const fallback = classify(what);
  return (err) => {
    if (!(err instanceof StatusError)) return fallback(err);
    const code = err.statusCode === 401 || err.statusCode === 403 ? 'BTFD_ERR_REMOTE_AUTH' : 'BTFD_ERR_REMOTE_FAILED';
    return remoteFailure(code, `${what}: ${err.message}`);
  };
}

/** Split a configured URL into the pool's origin, the path prefix and the Authorization header. */
function parseHttpUrl(url: string, token: string | null): { origin: string; prefix: string; location: string; authorization: string | null } {
  const parsed = new URL(url);
  const prefix = parsed.pathname.replace(/\/+$/, '');
  const user = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  const authorization = token !== null
    ? `Bearer ${token}`
    : user !== '' || password !== '' ? `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` : null;
  return { origin: parsed.origin, prefix, location: `${parsed.origin}${prefix}`, authorization };
}

/** Open a backend on an HTTP cache; no request is made until the first lookup. */
export function createHttpBackend(options: HttpBackendOptions): RemoteBackend {
  const { origin, prefix, location, authorization } = parseHttpUrl(options.url, options.token);
  const pool = new Pool(origin, {
    connections: HTTP_CONNECTIONS,
    keepAliveTimeout: KEEP_ALIVE_MS,
    connectTimeout: options.timeoutMs,
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
    maxResponseSize: MAX_REMOTE_VALUE_BYTES,
  });
  const headers = authorization === null ? {} : { authorization };
  const pathOf = (namespace: RemoteNamespace, hash: string): string => `${prefix}/${namespace}/${hash}`;
  const describe = (method: string, namespace: RemoteNamespace, hash: string): string => `${method} ${location}/${namespace}/${hash.slice(0, 12)}…`;

  return {
    kind: 'http',
    location,
    writable: true,
    get: (namespace, hash) => {
      const what = describe('GET', namespace, hash);
      return remoteCall(what, options.timeoutMs, async (signal) => {
        const answer = await pool.request({ path: pathOf(namespace, hash), method: 'GET', headers, signal });
        if (answer.statusCode === 200) return Buffer.from(await answer.body.arrayBuffer());
        await answer.body.dump();
        if (answer.statusCode === 404) return null;
        throw new StatusError(answer.statusCode);
      }, statusFailure(what));
    },
    put: (namespace, hash, data) => {
      const what = describe('PUT', namespace, hash);
      return remoteCall(what, options.timeoutMs, async (signal) => {
        const answer = await pool.request({
          path: pathOf(namespace, hash), method: 'PUT', headers: { ...headers, 'content-type': 'application/octet-stream' }, body: data, signal,
        });
        await answer.body.dump();
        if (answer.statusCode !== 200 && answer.statusCode !== 201 && answer.statusCode !== 204) throw new StatusError(answer.statusCode);
      }, statusFailure(what));
    },
    has: (namespace, hash) => {
      const what = describe('HEAD', namespace, hash);
      return remoteCall(what, options.timeoutMs, async (signal) => {
        const answer = await pool.request({ path: pathOf(namespace, hash), method: 'HEAD', headers, signal });
        await answer.body.dump();
        if (answer.statusCode === 200) return true;
        if (answer.statusCode === 404) return false;
        throw new StatusError(answer.statusCode);
      }, statusFailure(what));
    },
    async close() {
      // Requests still open (a hung server) must not hold the daemon's exit.
      await pool.destroy().catch(() => undefined);
    },
  };
}
