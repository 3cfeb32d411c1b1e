/**
 * The remote tier: btfd's action cache and CAS on a remote backend, in the bazel-remote layout.
 *
 * - `ac/<key>` holds a small JSON action entry naming the artifact blob (its sha256 and size), the
 *   digest of its sections and the key's input digests; `cas/<sha256>` holds the blob itself.
 * - With a salt, the key sent is sha256(salt, key): servers that ignore a URL prefix (bazel-remote)
 *   still keep salts apart, and a new salt disowns every entry made under the old one.
 * - An entry counts only when its blob is there (`has`); a downloaded blob is re-hashed before
 *   anyone sees it, and a mismatch is a miss, counted as corrupt. The engine still checks the
 *   artifact's inputs and base fit before installing it (restore-step.ts): a poisoned remote can
 *   cost a regeneration, never a wrong module.
 * - Uploads run in the background (upload-queue.ts): the blob first, then the entry, so an entry
 *   never names a blob the server does not have.
 * - Nothing here throws: backend failures are values, counted and logged (the breaker keeps their
 *   number down), and answered as misses.
 */
import type { Logger } from 'pino';
import type { RemoteCacheStatus } from '../../../shared/build-types.js';
import type { ActionInputs, ActionMeta, CachedAction } from '../artifact-cache.js';
import { isDigest, sha256Hex } from '../cas.js';
import type { CounterName } from '../counters.js';
import type { CircuitBreaker } from './circuit-breaker.js';
import { MAX_REMOTE_VALUE_BYTES, type RemoteBackend, type RemoteFailure } from './remote-backend.js';
import { createUploadQueue } from './upload-queue.js';

/** Uploads running at once. */
const UPLOAD_CONCURRENCY = 4;
/** Bytes of artifacts waiting for upload before new ones are dropped. */
const MAX_PENDING_UPLOAD_BYTES = 256 * 1024 * 1024;
/** The entry format's tag: an entry with another one is not ours (or from a future btfd). */
const ENTRY_FORMAT = 'btfd-ac-1';
/** An action entry is a few hundred bytes; a bigger answer is not one. */
const MAX_ENTRY_BYTES = 64 * 1024;

/** An action entry found on the remote, with what writing it back to the local tier needs. */
export interface RemoteAction extends CachedAction {
  readonly inputs: ActionInputs;
  /** The blob's size in bytes. */
  readonly size: number;
}

/** Counters this tier adds to (persistent, in the store's counters table). */
export type RemoteCounterName = Extract<CounterName, `remote_${string}`>;

export interface RemoteTier {
  readonly location: string;
  /**
   * The entry for `key` when the remote has it and its blob; null on a miss or a failure. With
   * `tally` false (explain) nothing is counted.
   */
  lookup(key: string, tally: boolean): Promise<RemoteAction | null>;
  /** The entry's blob, re-hashed against its name; null on a miss, a failure or a mismatch. */
  fetch(action: RemoteAction): Promise<Buffer | null>;
  /** The engine refused a fetched artifact (other inputs, or it does not fit the base). */
  refused(key: string, action: RemoteAction): void;
  /** Queue the upload of a new artifact (nothing when read-only or the queue is full). */
  upload(key: string, blob: Buffer, digest: string, meta: ActionMeta): void;
  status(): RemoteCacheStatus;
  /** Wait for queued uploads up to `timeoutMs`, abandon the rest; true when all were sent. */
  drain(timeoutMs: number): Promise<boolean>;
  /** Close the backend's connections. */
  close(): Promise<void>;
}

export interface RemoteTierOptions {
  readonly backend: RemoteBackend;
  readonly breaker: CircuitBreaker;
  readonly salt: string;
  readonly timeoutMs: number;
  readonly count: (name: RemoteCounterName, by?: number) => void;
  readonly log: Logger;
}

/** The action key as sent to the remote: the key itself, or salted. */
export function remoteActionKey(key: string, salt: string): string {
  return salt === '' ? key : sha256Hex(Buffer.from(`btfd-remote-salt\0${salt}\0${key}`, 'utf8'));
}

/** The JSON action entry stored under `ac/`. */
export function encodeRemoteEntry(digest: string, size: number, meta: ActionMeta): Buffer {
  const { tool, flags, base, module } = meta.inputs;
  return Buffer.from(JSON.stringify({
    format: ENTRY_FORMAT, artifact: digest, size, outputs: meta.outputsDigest, costMs: Math.max(0, Math.round(meta.costMs)),
    inputs: { tool, flags, base, module },
  }), 'utf8');
}

/** Parse an action entry; null for anything that is not a well-formed one. */
export function decodeRemoteEntry(data: Buffer): RemoteAction | null {
  if (data.length > MAX_ENTRY_BYTES) return null;
  let value: unknown;
  try {
    value = JSON.parse(data.toString('utf8'));
  } catch {
    return null;
  }
  const entry = value as Partial<Record<'format' | 'artifact' | 'outputs', unknown>> & { size?: unknown; costMs?: unknown; inputs?: Partial<Record<keyof ActionInputs, unknown>> };
  const inputs = entry?.inputs;
  const strings = inputs && [inputs.tool, inputs.flags, inputs.base, inputs.module];
  if (
    entry?.format !== ENTRY_FORMAT || typeof entry.artifact !== 'string' || !isDigest(entry.artifact)
    || typeof entry.outputs !== 'string' || !isDigest(entry.outputs)
    || typeof entry.size !== 'number' || !Number.isSafeInteger(entry.size) || entry.size <= 0 || entry.size > MAX_REMOTE_VALUE_BYTES
    || typeof entry.costMs !== 'number' || !Number.isFinite(entry.costMs) || entry.costMs < 0
    || !strings || !strings.every((s) => typeof s === 'string')
  ) return null;
  const [tool, flags, base, module] = strings as string[];
  return {
    artifactDigest: entry.artifact, outputsDigest: entry.outputs, costMs: entry.costMs, size: entry.size,
    inputs: { tool: tool!, flags: flags!, base: base!, module: module! },
  };
}

export function createRemoteTier(options: RemoteTierOptions): RemoteTier {
  const { backend, count, log } = options;
  const uploads = createUploadQueue({ concurrency: UPLOAD_CONCURRENCY, maxPendingBytes: MAX_PENDING_UPLOAD_BYTES });
  const acKey = (key: string): string => remoteActionKey(key, options.salt);

  /** A failed request: counted, and logged unless it is the breaker saying why it skipped. */
  const failed = (failure: RemoteFailure, tally: boolean): null => {
    if (failure.code === 'BTFD_ERR_REMOTE_UNAVAILABLE') {
      if (tally) count('remote_skipped');
      return null;
    }
    if (tally) count('remote_errors');
    log.warn({ code: failure.code, detail: failure.message }, 'remote cache request failed');
    return null;
  };
  const corrupt = (what: string, detail: Record<string, unknown>): null => {
    count('remote_corrupt');
    log.warn({ code: 'BTFD_ERR_REMOTE_CORRUPT', location: backend.location, ...detail }, what);
    return null;
  };

  return {
    location: backend.location,

    async lookup(key, tally) {
      const entry = await backend.get('ac', acKey(key));
      if (!entry.ok) return failed(entry, tally);
      if (entry.value === null) {
        if (tally) count('remote_misses');
        return null;
      }
      const action = decodeRemoteEntry(entry.value);
      if (action === null) return tally ? corrupt('remote action entry malformed; ignored', { key }) : null;
      if (tally) count('remote_bytes_read', entry.value.length);
      const blob = await backend.has('cas', action.artifactDigest);
      if (!blob.ok) return failed(blob, tally);
      if (!blob.value) {
        // An entry whose blob is gone (evicted) is no hit.
        if (tally) count('remote_misses');
        return null;
      }
      return action;
    },

    async fetch(action) {
      const got = await backend.get('cas', action.artifactDigest);
      if (!got.ok) return failed(got, true);
      if (got.value === null) {
        count('remote_misses');
        return null;
      }
      count('remote_bytes_read', got.value.length);
      const actual = sha256Hex(got.value);
      if (actual !== action.artifactDigest) return corrupt('remote blob failed its digest check; not used', { digest: action.artifactDigest, actual });
      return got.value;
    },

    refused(key, action) {
      corrupt('remote artifact refused by the engine; not installed, not kept', { key, digest: action.artifactDigest });
    },

    upload(key, blob, digest, meta) {
      if (!backend.writable) return;
      const entry = encodeRemoteEntry(digest, blob.length, meta);
      const queued = uploads.enqueue(blob.length, async () => {
        const putBlob = await backend.put('cas', digest, blob);
        if (!putBlob.ok) return failed(putBlob, true) ?? false;
        const putEntry = await backend.put('ac', acKey(key), entry);
        if (!putEntry.ok) return failed(putEntry, true) ?? false;
        count('remote_bytes_written', blob.length + entry.length);
        return true;
      });
      if (!queued) log.debug({ key }, 'remote upload dropped: queue full or shutting down');
    },

    status: () => ({
      kind: backend.kind,
      location: backend.location,
      readOnly: !backend.writable,
      salted: options.salt !== '',
      timeoutMs: options.timeoutMs,
      breaker: options.breaker.snapshot(),
      uploads: uploads.stats(),
    }),

    drain: (timeoutMs) => uploads.drain(timeoutMs),
    close: () => backend.close(),
  };
}
