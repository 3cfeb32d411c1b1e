/**
 * A tiny typed HTTP client for the daemon's unix socket (node:http with `socketPath`), typed by
 * shared/protocol. Errors the daemon answers are rebuilt as BtfdError from their `code`; a
 * socket that is missing, refuses, or hangs up becomes BTFD_ERR_DAEMON_UNREACHABLE with the
 * system error as its cause (see {@link isNotRunning}).
 *
 * One connection per request (no keep-alive agent): a unix connect costs microseconds, and an
 * idle pooled socket would keep the CLI's event loop alive and the daemon's drain waiting.
 */
import http from 'node:http';
import type { BuildEvent, BuildReport, BuildRequest, Explanation } from '../shared/build-types.js';
import { BtfdError, isErrorCode } from '../shared/errors.js';
import type { BuildStreamLine } from '../shared/protocol/build.js';
import type { CacheClearResponse } from '../shared/protocol/cache-clear.js';
import type { CacheGcBody, CacheGcResponse } from '../shared/protocol/cache-gc.js';
import type { CacheStatsResponse } from '../shared/protocol/cache-stats.js';
import type { CacheVerifyResponse } from '../shared/protocol/cache-verify.js';
import type { ErrorBody } from '../shared/protocol/error.js';
import type { ExplainBody } from '../shared/protocol/explain.js';
import type { HelloResponse } from '../shared/protocol/hello.js';
import type { TreeCheck } from '../shared/protocol/kbuild.js';
import type { ModulesResponse } from '../shared/protocol/modules.js';
import {
  BUILD_ROUTE, CACHE_CLEAR_ROUTE, CACHE_GC_ROUTE, CACHE_STATS_ROUTE, CACHE_VERIFY_ROUTE, CACHE_ZERO_ROUTE, EXPLAIN_ROUTE, HELLO_ROUTE, KBUILD_CHECK_ROUTE,
  MODULES_ROUTE, NDJSON_CONTENT_TYPE, STATUS_ROUTE, STOP_ROUTE, TREES_ROUTE, UNWATCH_ROUTE, WATCH_ROUTE,
} from '../shared/protocol/routes.js';
import type { StatusResponse } from '../shared/protocol/status.js';
import type { StopResponse } from '../shared/protocol/stop.js';
import type { TreesResponse, UnwatchResponse, WatchBody, WatchResponse } from '../shared/protocol/watch.js';

/** Short requests (hello, status, stop) must answer within this; builds have no limit. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5000;

/** System errors that mean "no daemon is listening" (as opposed to one that misbehaves). */
const NOT_RUNNING_ERRNOS = new Set(['ENOENT', 'ECONNREFUSED']);

/** True when `err` says no daemon listens on the socket (absent, or refused: a dead daemon). */
export function isNotRunning(err: unknown): boolean {
  if (!(err instanceof BtfdError) || err.code !== 'BTFD_ERR_DAEMON_UNREACHABLE') return false;
  const errno = (err.cause as NodeJS.ErrnoException | undefined)?.code;
  return errno !== undefined && NOT_RUNNING_ERRNOS.has(errno);
}

/** Rebuild the daemon's error answer as a BtfdError (by code, never by message). */
export function errorFromBody(statusCode: number, body: unknown): BtfdError {
  const candidate = body as Partial<ErrorBody> | null;
  if (candidate !== null && typeof candidate === 'object' && isErrorCode(candidate.code)) {
    return new BtfdError(candidate.code, String(candidate.message ?? ''));
  }
  return new BtfdError('BTFD_ERR_INTERNAL', `the daemon answered HTTP ${statusCode} without an error code: ${JSON.stringify(body)}`);
}

interface RequestOptions {
  readonly method: 'GET' | 'POST';
  readonly url: string;
  readonly body?: unknown;
  readonly timeoutMs?: number;
  readonly accept?: string;
  /** Hang up when it fires: the daemon cancels the work this request started. */
  readonly signal?: AbortSignal;
}

/** The error of a request this client hung up on (Ctrl-C). */
function hungUp(): BtfdError {
  return new BtfdError('BTFD_ERR_BUILD_CANCELLED', 'cancelled: the daemon drops the queued modules; those in flight finish');
}

function unreachable(socketPath: string, err: Error): BtfdError {
  const errno = (err as NodeJS.ErrnoException).code;
  const why = errno === 'ENOENT' ? 'no socket' : errno === 'ECONNREFUSED' ? 'connection refused' : err.message;
  return new BtfdError('BTFD_ERR_DAEMON_UNREACHABLE', `cannot reach the btfd daemon at ${socketPath}: ${why}`, { cause: err });
}

/** Send one request; resolves with the response once its headers arrived. */
function send(socketPath: string, options: RequestOptions): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers: http.OutgoingHttpHeaders = { accept: options.accept ?? 'application/json' };
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(payload);
    }
    const request = http.request({
      socketPath, method: options.method, path: options.url, headers, agent: false, ...(options.signal ? { signal: options.signal } : {}),
    });
    if (options.timeoutMs !== undefined) {
      request.setTimeout(options.timeoutMs, () => {
        const err = Object.assign(new Error(`no answer within ${options.timeoutMs} ms`), { code: 'ETIMEDOUT' });
        request.destroy(err);
      });
    }
    request.once('error', (err) => reject(options.signal?.aborted ? hungUp() : unreachable(socketPath, err)));
    request.once('response', resolve);
    request.end(payload);
  });
}

function readAll(response: http.IncomingMessage, socketPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    response.once('error', (err) => reject(unreachable(socketPath, err)));
  });
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new BtfdError('BTFD_ERR_INTERNAL', `the daemon sent invalid JSON for ${what}: ${text.slice(0, 200)}`, { cause: err });
  }
}

/** One JSON request/answer. */
async function call<T>(socketPath: string, options: RequestOptions): Promise<T> {
  const response = await send(socketPath, options);
  const text = await readAll(response, socketPath).catch((err: unknown) => {
    throw options.signal?.aborted ? hungUp() : err;
  });
  const status = response.statusCode ?? 0;
  const body = text === '' ? null : parseJson(text, options.url);
  if (status >= 400) throw errorFromBody(status, body);
  return body as T;
}

/** A streamed build: events to `onEvent`, resolves with the final report line. */
async function streamBuild(socketPath: string, request: BuildRequest, onEvent: (event: BuildEvent) => void, signal?: AbortSignal): Promise<BuildReport> {
  const response = await send(socketPath, {
    method: BUILD_ROUTE.method, url: BUILD_ROUTE.url, body: request, accept: NDJSON_CONTENT_TYPE, ...(signal ? { signal } : {}),
  });
  const status = response.statusCode ?? 0;
  const contentType = String(response.headers['content-type'] ?? '');
  if (status >= 400 || !contentType.startsWith(NDJSON_CONTENT_TYPE)) {
    const text = await readAll(response, socketPath);
    const body = text === '' ? null : parseJson(text, BUILD_ROUTE.url);
    if (status >= 400) throw errorFromBody(status, body);
    return body as BuildReport;
  }
  return new Promise((resolve, reject) => {
    let pending = '';
    let settled = false;
    const settle = (action: () => void): void => {
      if (settled) return;
      settled = true;
      action();
    };
    const handleLine = (line: string): void => {
      if (line.trim() === '') return;
      const parsed = parseJson(line, 'a build stream line') as BuildStreamLine;
      if (parsed.type === 'report') settle(() => resolve(parsed.report));
      else if (parsed.type === 'error') settle(() => reject(errorFromBody(parsed.error.statusCode, parsed.error)));
      else onEvent(parsed);
    };
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      pending += chunk;
      let newline = pending.indexOf('\n');
      while (newline >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        try {
          handleLine(line);
        } catch (err) {
          settle(() => reject(err));
          response.destroy();
          return;
        }
        newline = pending.indexOf('\n');
      }
    });
    response.once('end', () => {
      try {
        handleLine(pending);
      } catch (err) {
        settle(() => reject(err));
      }
      settle(() => reject(new BtfdError('BTFD_ERR_DAEMON_UNREACHABLE', 'the daemon closed the build stream before its report')));
    });
    response.once('error', (err) => settle(() => reject(signal?.aborted ? hungUp() : unreachable(socketPath, err))));
    // Hanging up is the cancellation: the daemon sees the stream close.
    signal?.addEventListener('abort', () => {
      settle(() => reject(hungUp()));
      response.destroy();
    }, { once: true });
  });
}

/** The daemon, as the CLI talks to it. */
export interface DaemonClient {
  readonly socketPath: string;
  /** The daemon's handshake answer when this client connected. */
  readonly identity: HelloResponse;
  /** Things the CLI may print, e.g. why the daemon was restarted. */
  readonly notes: readonly string[];
  /** Set when the daemon's identity differs from this client's and it was not restarted. */
  readonly mismatch: string | null;
  hello(): Promise<HelloResponse>;
  status(): Promise<StatusResponse>;
  /** Ask the daemon to stop (it answers first, then drains and exits). */
  stop(): Promise<StopResponse>;
  /**
   * Build; with `onEvent`, progress events stream in as NDJSON. `signal` hangs up, which cancels
   * the build in the daemon (BTFD_ERR_BUILD_CANCELLED here).
   */
  build(request: BuildRequest, onEvent?: (event: BuildEvent) => void, signal?: AbortSignal): Promise<BuildReport>;
  explain(request: ExplainBody): Promise<Explanation>;
  modules(dir?: string): Promise<ModulesResponse>;
  cacheStats(): Promise<CacheStatsResponse>;
  /** Zero the cache counters; answers them as they were. */
  cacheZeroStats(): Promise<CacheStatsResponse>;
  cacheGc(maxBytes?: number): Promise<CacheGcResponse>;
  cacheVerify(): Promise<CacheVerifyResponse>;
  cacheClear(): Promise<CacheClearResponse>;
  watch(body: WatchBody): Promise<WatchResponse>;
  unwatch(dir: string): Promise<UnwatchResponse>;
  trees(): Promise<TreesResponse>;
  /** `btfd kbuild`'s checks of a kernel build dir. */
  kbuildCheck(dir: string, pahole?: string): Promise<TreeCheck>;
  /** Nothing stays open between requests; close() just refuses later calls. */
  close(): void;
}

/** One GET /v1/hello with a short timeout. */
export function requestHello(socketPath: string, timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS): Promise<HelloResponse> {
  return call<HelloResponse>(socketPath, { method: HELLO_ROUTE.method, url: HELLO_ROUTE.url, timeoutMs });
}

/** A client for the daemon at `socketPath` whose handshake answered `identity`. */
export function createDaemonClient(
  socketPath: string,
  identity: HelloResponse,
  extra: { readonly notes?: readonly string[]; readonly mismatch?: string | null } = {},
): DaemonClient {
  let closed = false;
  const request = <T>(options: RequestOptions): Promise<T> => {
    if (closed) return Promise.reject(new BtfdError('BTFD_ERR_INTERNAL', 'this daemon client was closed'));
    return call<T>(socketPath, options);
  };
  const short = DEFAULT_REQUEST_TIMEOUT_MS;
  return {
    socketPath,
    identity,
    notes: extra.notes ?? [],
    mismatch: extra.mismatch ?? null,
    hello: () => request({ method: HELLO_ROUTE.method, url: HELLO_ROUTE.url, timeoutMs: short }),
    status: () => request({ method: STATUS_ROUTE.method, url: STATUS_ROUTE.url, timeoutMs: short }),
    stop: () => request({ method: STOP_ROUTE.method, url: STOP_ROUTE.url, timeoutMs: short }),
    build: (buildRequest, onEvent, signal) => {
      if (closed) return Promise.reject(new BtfdError('BTFD_ERR_INTERNAL', 'this daemon client was closed'));
      if (onEvent === undefined) {
        return call<BuildReport>(socketPath, { method: BUILD_ROUTE.method, url: BUILD_ROUTE.url, body: buildRequest, ...(signal ? { signal } : {}) });
      }
      return streamBuild(socketPath, buildRequest, onEvent, signal);
    },
    explain: (body) => request({ method: EXPLAIN_ROUTE.method, url: EXPLAIN_ROUTE.url, body }),
    modules: (dir) => request({
      method: MODULES_ROUTE.method,
      url: dir === undefined ? MODULES_ROUTE.url : `${MODULES_ROUTE.url}?dir=${encodeURIComponent(dir)}`,
    }),
    cacheStats: () => request({ method: CACHE_STATS_ROUTE.method, url: CACHE_STATS_ROUTE.url }),
    cacheZeroStats: () => request({ method: CACHE_ZERO_ROUTE.method, url: CACHE_ZERO_ROUTE.url }),
    cacheGc: (maxBytes) => {
      const body: CacheGcBody = maxBytes === undefined ? {} : { maxBytes };
      return request({ method: CACHE_GC_ROUTE.method, url: CACHE_GC_ROUTE.url, body });
    },
    cacheVerify: () => request({ method: CACHE_VERIFY_ROUTE.method, url: CACHE_VERIFY_ROUTE.url }),
    cacheClear: () => request({ method: CACHE_CLEAR_ROUTE.method, url: CACHE_CLEAR_ROUTE.url }),
    // Adding a tree scans it and may build it: no short timeout.
    watch: (body) => request({ method: WATCH_ROUTE.method, url: WATCH_ROUTE.url, body }),
    unwatch: (dir) => request({ method: UNWATCH_ROUTE.method, url: UNWATCH_ROUTE.url, body: { dir }, timeoutMs: short }),
    trees: () => request({ method: TREES_ROUTE.method, url: TREES_ROUTE.url, timeoutMs: short }),
    kbuildCheck: (dir, pahole) => request({ method: KBUILD_CHECK_ROUTE.method, url: KBUILD_CHECK_ROUTE.url, body: { dir, ...(pahole === undefined ? {} : { pahole }) } }),
    close: () => {
      closed = true;
    },
  };
}
