/**
 * The main thread ↔ module worker protocol. Buffers cross the thread boundary as Uint8Array,
 * bigints as they are (structured clone keeps them).
 * Errors come back as data: a thrown error loses its class and `code` crossing the thread boundary.
 */
import type { ErrorCode } from '../../shared/errors.js';
import type { BaseDiff } from '../btf/base-diff.js';
import type { FileStamp } from '../fs/file-stamp.js';

/** A worker's answer: its value, or the coded error it met. */
export type WorkerOutcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly code: ErrorCode; readonly message: string };

/**
 * Where the BTF a module's resolved `.BTF_ids` was resolved against may be found; read only when a
 * resolved kfunc set with mixed flags needs it (see daemon/btf/btf-ids.ts).
 */
export interface BtfIdsHints {
  /** Base snapshots its own `.BTF` may be split on, the current base first. */
  readonly baseSnapshots: readonly string[];
  /** The artifact btfd last installed in it: blob file, its digest, and its base's snapshot. */
  readonly previousArtifact?: { readonly blob: string; readonly digest: string; readonly baseSnapshot: string };
}

export interface DigestTask {
  readonly path: string;
  readonly btfIds: BtfIdsHints;
}

export interface DigestResult {
  readonly digest: string;
  /** The module's current output sections (`.BTF`, `.BTF.base`, `.BTF_ids`) that exist. */
  readonly outputs: Record<string, Uint8Array>;
}

export interface RegenerateTask {
  readonly modulePath: string;
  /** The module as it was planned: pahole's result is kept only if this is what it read. */
  readonly stamp: FileStamp;
  readonly moduleDigest: string;
  /** The planned stat was taken so soon after the file changed that a later write could share it. */
  readonly racy: boolean;
  /** The base snapshot (raw BTF, named by its digest) pahole encodes against. */
  readonly baseSnapshot: string;
  /** For reading the module's current `.BTF_ids`, as in DigestTask. */
  readonly btfIds: BtfIdsHints;
  readonly paholePath: string;
  /** Flags for pahole, one option a word. */
  readonly flags: readonly string[];
  /** Private scratch dir (inside btfd's cache dir). */
  readonly tmpRoot: string;
  /** objcopy for pahole's LLVM_OBJCOPY, as kbuild passes it. */
  readonly objcopy: string;
  /** pahole's wall time before its process group is killed (BTFD_ERR_TOOL_PAHOLE_TIMEOUT). */
  readonly timeoutMs: number;
  /** Shared with the engine: non-zero once it closes, and a running pahole is killed then. */
  readonly stopFlag: Int32Array;
}

export interface RegenerateResult {
  /** The artifact's sections: `.BTF`, `.BTF.base` when distilled, `.BTF_ids` resolved. */
  readonly sections: Record<string, Uint8Array>;
  /** pahole's wall time: the cost a later cache hit saves. */
  readonly ms: number;
  readonly stderr: string;
  /** resolve_btfids' warnings (unresolved names). */
  readonly warnings: readonly string[];
}

export interface BaseDiffTask {
  /** Snapshots (raw BTF) of the old base A and the new base B. */
  readonly oldBase: string;
  readonly newBase: string;
}

export interface RelocateTask {
  readonly modulePath: string;
  /** The module as it was planned (see RegenerateTask). */
  readonly stamp: FileStamp;
  readonly moduleDigest: string;
  readonly racy: boolean;
  readonly btfIds: BtfIdsHints;
  /** The artifact made for this module on the old base: its blob file and digest. */
  readonly artifact: { readonly blob: string; readonly digest: string };
  readonly oldBase: string;
  readonly newBase: string;
  /** The two bases' diff (its typed arrays are shared, not copied). */
  readonly diff: BaseDiff;
}

export type RelocateResult =
  | { readonly ok: true; readonly sections: Record<string, Uint8Array> }
  | { readonly ok: false; readonly reasons: readonly string[] };
