/**
 * A remote backend: the narrow interface every remote cache server is reached through (sccache's
 * `Storage`, ccache's remote storage): get, put and has of a value by namespace and sha256, in the
 * bazel-remote layout — `ac` (action entries, by key) and `cas` (blobs, by their own sha256).
 *
 * Every method resolves, never rejects: a failure (refused, timed out, an error answer) is a value
 * with a catalog code, so no remote problem is ever thrown into a build. {@link remoteCall} is the
 * one place that turns a thrown error or an elapsed deadline into such a value.
 */
import type { ErrorCode } from '../../../shared/errors.js';

/** The two namespaces of the bazel-remote HTTP protocol. */
export type RemoteNamespace = 'ac' | 'cas';

/** The codes a remote failure carries (see docs/errors.md). */
export type RemoteErrorCode = Extract<ErrorCode, `BTFD_ERR_REMOTE_${string}`>;

/** Why a remote request did not succeed. `message` never holds credentials. */
export interface RemoteFailure {
  readonly ok: false;
  readonly code: RemoteErrorCode;
  readonly message: string;
}

/** A remote request's result: a value, or a failure. A miss is a value (null or false). */
export type RemoteResult<T> = { readonly ok: true; readonly value: T } | RemoteFailure;

export interface RemoteBackend {
  readonly kind: 'http' | 'redis';
  /** Where it is, without credentials: for logs and status. */
  readonly location: string;
  /** False behind the read-only wrapper (sccache's `check` → ReadOnly): puts are refused unsent. */
  readonly writable: boolean;
  /** The value, or null when the server has none. */
  get(namespace: RemoteNamespace, hash: string): Promise<RemoteResult<Buffer | null>>;
  put(namespace: RemoteNamespace, hash: string, data: Buffer): Promise<RemoteResult<void>>;
  has(namespace: RemoteNamespace, hash: string): Promise<RemoteResult<boolean>>;
  /** Let go of connections; requests after it fail. */
  close(): Promise<void>;
}

/** The largest value a backend accepts from a server: anything bigger is an error answer. */
export const MAX_REMOTE_VALUE_BYTES = 512 * 1024 * 1024;

/** A failure value. */
export function remoteFailure(code: RemoteErrorCode, message: string): RemoteFailure {
  return { ok: false, code, message };
}

/** A success value. */
export function remoteOk<T>(value: T): RemoteResult<T> {
  return { ok: true, value };
}

/**
 * Run one remote request with a deadline. `request` gets a signal that aborts at the deadline;
 * whether or not it honours it, the result is a timeout failure once `timeoutMs` has passed, so
 * a hung server stalls a caller by at most the timeout. Anything `request` throws becomes the
 * failure `classify` makes of it.
 */
export async function remoteCall<T>(
  what: string,
  timeoutMs: number,
  request: (signal: AbortSignal) => Promise<T>,
  classify: (err: unknown) => RemoteFailure,
): Promise<RemoteResult<T>> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<RemoteFailure>((resolve) => {
    timer = setTimeout(() => {
      resolve(remoteFailure('BTFD_ERR_REMOTE_TIMEOUT', `${what}: no answer within ${timeoutMs} ms`));
      controller.abort();
    }, timeoutMs);
  });
  const attempt = (async (): Promise<RemoteResult<T>> => {
    try {
      return remoteOk(await request(controller.signal));
    } catch (err) {
      return classify(err);
    }
  })();
  try {
    return await Promise.race([attempt, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** An error's message, for a failure value (callers make sure it holds no credentials). */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code !== undefined && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}
