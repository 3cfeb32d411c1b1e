/**
 * The data a build produces, shared by the in-process engine, the daemon's routes and the CLI.
 * Plain JSON-able types only: they cross the socket as they are.
 */
import type { ErrorCode } from './errors.js';
import type { ActionCounts, ModuleAction, ModuleOutcome, OutcomeCounts } from './module-actions.js';

export type { ModuleAction, ModuleOutcome } from './module-actions.js';

/** What a build was asked to do. Paths are absolute. */
export interface BuildRequest {
  /** The tree whose `.ko` files are brought up to date. */
  readonly dir: string;
  /** The base: a vmlinux with `.BTF`, or a raw BTF file. Defaults to `dir/vmlinux`. */
  readonly base?: string;
  /** pahole encoding flags, as one string. Defaults to what the tree's scripts choose. */
  readonly paholeFlags?: string;
  /**
   * The pahole to run: an absolute path, or a name on the daemon's PATH. Defaults to the daemon's
   * (the CLI always sends the one the user means, found on the user's PATH).
   */
  readonly pahole?: string;
  /** Restrict the build to these modules (absolute paths); default: every `.ko` under dir. */
  readonly modules?: readonly string[];
  /** Relocate artifacts cached on another base (default: the daemon's setting, normally on). */
  readonly relocate?: boolean;
}

/** One module's result. */
export interface ModuleResult {
  readonly path: string;
  readonly outcome: ModuleOutcome;
  /** Why the planner chose what it did, e.g. "base BTF changed" or "no cache entry". */
  readonly reason: string;
  readonly ms: number;
  readonly error?: { readonly code: ErrorCode; readonly message: string; readonly next: string };
}

/** Which pahole a build ran. */
export interface PaholeInfo {
  /** The binary's real path. */
  readonly path: string;
  /** Its `--version`, e.g. "v1.24". */
  readonly version: string;
}

/**
 * The summary `btfd build --json` prints (fields named by the contract in DESIGN.md §5): a count
 * per outcome (`fresh`, `restored`, `regenerated`, `failed`, … from shared/module-actions.ts).
 */
export type BuildReport = OutcomeCounts & {
  readonly dir: string;
  readonly base: string;
  readonly flags: string;
  readonly pahole: PaholeInfo;
  readonly modules: number;
  readonly seconds: number;
  readonly failures: readonly ModuleResult[];
  readonly results: readonly ModuleResult[];
};

/** Progress events a build emits while it runs; `planned` counts the modules per action. */
export type BuildEvent =
  | (ActionCounts & { readonly type: 'planned'; readonly total: number })
  | { readonly type: 'module'; readonly result: ModuleResult; readonly done: number; readonly total: number };

/** One input of a module's cache key, with its digest and whether it changed since the last build. */
export interface KeyInput {
  readonly name: 'schema' | 'recipe' | 'tool' | 'flags' | 'base' | 'module';
  readonly value: string;
  readonly digest: string;
  /** The digest recorded at the module's last build, when it differs from the current one. */
  readonly previous?: string;
  /** The value behind `previous`, for inputs whose value is short enough to show (the flags). */
  readonly previousValue?: string;
}

/** The tiers of the artifact cache: the local store first, a remote one (HTTP or Redis) behind it. */
export type CacheTierName = 'local' | 'remote';

/** What `btfd explain MODULE.ko` reports. */
export interface Explanation {
  readonly path: string;
  readonly key: string;
  readonly inputs: readonly KeyInput[];
  readonly verdict: ModuleAction;
  readonly reason: string;
  readonly cached: boolean;
  /** Which tier holds the key's artifact, when one does. */
  readonly tier?: CacheTierName;
  readonly lastBuild?: { readonly outcome: string; readonly reason: string; readonly atMs: number };
}

/** What btfd remembers of one module (`btfd modules`). */
export interface ModuleState {
  readonly path: string;
  /** The outcome of its last build that changed something, or `failed` until a build succeeds. */
  readonly outcome: string;
  /** Why (which input changed), or what failed. */
  readonly reason: string;
  /** When that outcome happened. */
  readonly updatedMs: number;
  /** When a build last looked at it (a pass finding it fresh moves only this). */
  readonly checkedMs: number;
  /** While it is failed: the code, and what to do next. */
  readonly error?: { readonly code: ErrorCode; readonly message: string; readonly next: string };
}

/**
 * One cache tier's figures: counters kept in the cache database, so they add up across daemon
 * restarts and every process sharing the cache dir.
 */
export interface CacheTierStats {
  readonly tier: CacheTierName;
  /** Artifacts restored from this tier. */
  readonly hits: number;
  /** Lookups during builds that this tier could not answer. */
  readonly misses: number;
  /** Failed requests (remote); blobs whose file had gone (local). */
  readonly errors: number;
  /** Requests not sent because the circuit breaker was open (remote; 0 for local). */
  readonly skipped: number;
  /** Entries that failed verification: dropped, never installed. */
  readonly corrupt: number;
  readonly bytesRead: number;
  readonly bytesWritten: number;
}

/** The remote tier's live state (since the daemon started): where, how, breaker and uploads. */
export interface RemoteCacheStatus {
  readonly kind: 'http' | 'redis';
  /** The URL without credentials. */
  readonly location: string;
  readonly readOnly: boolean;
  /** Whether a salt (BTFD_REMOTE_SALT) keys this cache's entries; the salt itself is not shown. */
  readonly salted: boolean;
  readonly timeoutMs: number;
  readonly breaker: {
    readonly state: 'closed' | 'open' | 'half-open';
    /** Failures in a row. */
    readonly failures: number;
    /** When an open breaker lets a probe through (ms since the epoch); null unless open. */
    readonly retryAtMs: number | null;
    readonly lastError: { readonly code: ErrorCode; readonly message: string; readonly atMs: number } | null;
  };
  readonly uploads: {
    readonly queued: number;
    readonly running: number;
    readonly done: number;
    readonly failed: number;
    /** Not attempted: the queue was full, or shutdown's drain deadline passed. */
    readonly dropped: number;
  };
}

/** Cache figures for `btfd cache stats` and `btfd status`. */
export interface CacheStats {
  /** Action cache entries. */
  readonly entries: number;
  readonly blobs: number;
  /** Total bytes of the blobs. */
  readonly bytes: number;
  /** The size limit eviction keeps the cache under. */
  readonly maxBytes: number;
  /** Modules a build or the drop-in asked for that the cache answered: restored, or found fresh. */
  readonly hits: number;
  /** Modules pahole had to encode. */
  readonly misses: number;
  /** Modules whose artifact was relocated from another base instead of encoded by pahole. */
  readonly relocated: number;
  /** hits / (hits + relocated + misses), or null before the first lookup. */
  readonly hitRate: number | null;
  /** Sum of the pahole time hits and relocations avoided. */
  readonly savedMs: number;
  /** Stat cache rows. */
  readonly files: number;
  /** Blobs dropped because their content failed the digest check. */
  readonly corrupt: number;
  /** Blobs dropped because their file had disappeared. */
  readonly missing: number;
  /** The same split by tier: local first, then the remote when one is configured. */
  readonly tiers: readonly CacheTierStats[];
  /** The remote tier, or null when there is none. */
  readonly remote: RemoteCacheStatus | null;
}

/** What `btfd cache gc` removed. */
export interface CacheGcResult {
  /** Action entries evicted or dropped. */
  readonly removedEntries: number;
  /** Bytes of blob files deleted (evicted, unreferenced and orphan blobs). */
  readonly removedBytes: number;
}

/** What `btfd cache verify` found (everything it reports it has also removed). */
export interface CacheVerifyResult {
  /** Blobs re-hashed. */
  readonly checked: number;
  /** Digests whose file content did not match. */
  readonly corrupt: readonly string[];
  /** Digests named by entries whose file was gone. */
  readonly missing: readonly string[];
  /** Blob files (and stale temp files) no entry named. */
  readonly orphans: number;
}

/** A build report without its per-module results, as tree status and events carry it. */
export type BuildSummary = Omit<BuildReport, 'results'>;

/** A build of a watched tree: its summary, when it finished and what started it. */
export type TreeBuild = BuildSummary & {
  /** When the build finished (ms since the epoch). */
  readonly atMs: number;
  /** What started it: "watch started", "modules changed", "base BTF changed", "periodic rescan"… */
  readonly trigger: string;
};

/** One watched tree, as `btfd status` and `GET /v1/trees` show it. */
export interface TreeStatus {
  readonly dir: string;
  readonly base: string;
  readonly flags: string | null;
  /** The pahole registered with the tree (null: the daemon's default). */
  readonly pahole: string | null;
  /** The watcher has scanned the tree and is watching. */
  readonly ready: boolean;
  readonly building: boolean;
  /** The tree's dir is gone (deleted while watched): nothing is built until it is back. */
  readonly missing: boolean;
  /** File events seen, and watcher errors met. */
  readonly events: number;
  readonly errors: number;
  /**
   * The last build that changed or failed on a module. A pass that finds every module fresh does
   * not replace it (that is `lastPass`); it survives daemon restarts.
   */
  readonly lastBuild: TreeBuild | null;
  /** The last build of any kind, all-fresh passes included. */
  readonly lastPass: TreeBuild | null;
  readonly lastError: { readonly code: ErrorCode; readonly message: string } | null;
}
