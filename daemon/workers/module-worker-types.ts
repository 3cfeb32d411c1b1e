/**
 * The main thread ↔ module worker protocol. Buffers cross the thread boundary as Uint8Array.
 * Errors come back as data: a thrown error loses its class and `code` crossing the thread boundary.
 */
import type { ErrorCode } from '../../shared/errors.js';

/** A worker's answer: its value, or the coded error it met. */
export type WorkerOutcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly code: ErrorCode; readonly message: string };

export interface DigestTask {
  readonly path: string;
  readonly outputNames: readonly string[];
}

export interface DigestResult {
  readonly digest: string;
  readonly outputs: Record<string, Uint8Array>;
}

export interface RegenerateTask {
  readonly modulePath: string;
  readonly basePath: string;
  readonly paholePath: string;
  /** Normalised flags, one option a word. */
  readonly flags: readonly string[];
  readonly outputNames: readonly string[];
  /** Private scratch dir (inside btfd's cache dir): pahole runs on a copy here. */
  readonly tmpRoot: string;
  /** objcopy for pahole's LLVM_OBJCOPY, as kbuild passes it. */
  readonly objcopy: string;
}

export interface RegenerateResult {
  readonly sections: Record<string, Uint8Array>;
  /** pahole's wall time: the cost a later cache hit saves. */
  readonly ms: number;
  readonly stderr: string;
}
