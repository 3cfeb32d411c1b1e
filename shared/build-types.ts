/**
 * The data a build produces, shared by the in-process engine, the daemon's routes and the CLI.
 * Plain JSON-able types only: they cross the socket as they are.
 */
import type { ErrorCode } from './errors.js';

/** What the planner decided for one module. */
export type ModuleAction = 'fresh' | 'restore' | 'regenerate';

/** The outcome for one module after a build. */
export type ModuleOutcome = 'fresh' | 'restored' | 'regenerated' | 'failed';

/** What a build was asked to do. Paths are absolute. */
export interface BuildRequest {
  /** The tree whose `.ko` files are brought up to date. */
  readonly dir: string;
  /** The base: a vmlinux with `.BTF`, or a raw BTF file. Defaults to `dir/vmlinux`. */
  readonly base?: string;
  /** pahole encoding flags, as one string. Defaults to what the tree's scripts choose. */
  readonly paholeFlags?: string;
  /** Restrict the build to these modules (absolute paths); default: every `.ko` under dir. */
  readonly modules?: readonly string[];
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

/** The summary `btfd build --json` prints (fields named by the contract in DESIGN.md §5). */
export interface BuildReport {
  readonly dir: string;
  readonly base: string;
  readonly flags: string;
  readonly modules: number;
  readonly fresh: number;
  readonly restored: number;
  readonly regenerated: number;
  readonly failed: number;
  readonly seconds: number;
  readonly failures: readonly ModuleResult[];
  readonly results: readonly ModuleResult[];
}

/** Progress events a build emits while it runs. */
export type BuildEvent =
  | { readonly type: 'planned'; readonly total: number; readonly fresh: number; readonly restore: number; readonly regenerate: number }
  | { readonly type: 'module'; readonly result: ModuleResult; readonly done: number; readonly total: number };

/** One input of a module's cache key, with its digest and whether it changed since the last build. */
export interface KeyInput {
  readonly name: 'schema' | 'recipe' | 'tool' | 'flags' | 'base' | 'module';
  readonly value: string;
  readonly digest: string;
  /** The digest recorded at the module's last build, when it differs from the current one. */
  readonly previous?: string;
}

/** What `btfd explain MODULE.ko` reports. */
export interface Explanation {
  readonly path: string;
  readonly key: string;
  readonly inputs: readonly KeyInput[];
  readonly verdict: ModuleAction;
  readonly reason: string;
  readonly cached: boolean;
  readonly lastBuild?: { readonly outcome: string; readonly reason: string; readonly atMs: number };
}

/** What btfd remembers of one module (`btfd modules`). */
export interface ModuleState {
  readonly path: string;
  readonly outcome: string;
  readonly reason: string;
  readonly updatedMs: number;
}

/** Cache figures for `btfd cache stats` and `btfd status`. */
export interface CacheStats {
  readonly entries: number;
  readonly blobs: number;
  readonly bytes: number;
  readonly maxBytes: number;
  readonly hits: number;
  readonly misses: number;
  readonly savedMs: number;
  readonly files: number;
}

/** A build report without its per-module results, as tree status and events carry it. */
export type BuildSummary = Omit<BuildReport, 'results'>;

/** One watched tree, as `btfd status` and `GET /v1/trees` show it. */
export interface TreeStatus {
  readonly dir: string;
  readonly base: string;
  readonly flags: string | null;
  /** The watcher has scanned the tree and is watching. */
  readonly ready: boolean;
  readonly building: boolean;
  /** File events seen, and watcher errors met. */
  readonly events: number;
  readonly errors: number;
  readonly lastBuild: BuildSummary | null;
  readonly lastError: { readonly code: ErrorCode; readonly message: string } | null;
}
