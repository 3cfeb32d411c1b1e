/**
 * The artifact cache as the engine sees it: an action cache (key → artifact) over blobs named by
 * their sha256, behind one small async interface, so that tiers (the local SQLite + CAS store
 * first, a remote one behind it: tiered-cache.ts) compose behind it the way ccache's
 * Storage::get and sccache's `Storage` trait do.
 *
 * Contract every implementation keeps:
 * - `lookup` writes nothing and says which tier holds the entry; `touch` records a use (for LRU
 *   eviction) separately.
 * - `load` hands `accept` a blob only after checking it against its digest, and keeps it (or
 *   writes it back to the local tier) only when `accept` took it; a bad or refused blob is a miss.
 * - `put` makes the blob durable before the entry that names it (the entry is the commit point).
 */
import type { CacheTierName } from '../../shared/build-types.js';
import type { RemoteAction } from './remote/remote-tier.js';

export type { CacheTierName } from '../../shared/build-types.js';

/** What an action entry says besides its key. */
export interface CachedAction {
  /** The blob holding the artifact. */
  readonly artifactDigest: string;
  /** The digest of the artifact's sections alone: a module holding exactly these is fresh. */
  readonly outputsDigest: string;
  /** What producing it cost: the time a hit saves. */
  readonly costMs: number;
}

/** The key's input digests, recorded with an entry to find related artifacts. */
export interface ActionInputs {
  readonly tool: string;
  readonly flags: string;
  readonly base: string;
  readonly module: string;
}

/** What is recorded with a new artifact. */
export interface ActionMeta {
  readonly outputsDigest: string;
  readonly inputs: ActionInputs;
  readonly costMs: number;
}

/** An entry for the same module, tool and flags on another base (see `related`). */
export interface RelatedAction extends CachedAction {
  readonly key: string;
  readonly base: string;
}

/** An entry as `lookup` found it, with the tier that holds it (a remote one carries what writing it back needs). */
export type FoundAction =
  | (CachedAction & { readonly tier: Extract<CacheTierName, 'local'> })
  | (RemoteAction & { readonly tier: Extract<CacheTierName, 'remote'> });

export interface LookupOptions {
  /** Count the lookup in the tiers' figures (default true; explain looks without counting). */
  readonly tally?: boolean;
}

/** What the engine does with a blob: its decoded value, or null to refuse it (it is then dropped). */
export type AcceptBlob<T> = (blob: Buffer) => Promise<T | null>;

export interface ArtifactCache {
  /** The entry for `key` and the tier that holds it, or null on a miss; writes nothing. */
  lookup(key: string, options?: LookupOptions): Promise<FoundAction | null>;
  /** Record a use of `key` (its entry stays in the cache longer). */
  touch(key: string): Promise<void>;
  /**
   * The value `accept` makes of the blob of `found` (what `lookup(key)` returned), or null when
   * the blob is missing, fails its digest or `accept` refuses it; a refused blob is dropped.
   */
  load<T>(key: string, found: FoundAction, accept: AcceptBlob<T>): Promise<T | null>;
  /** Store `blob`, then map `key` to it; resolves with the blob's digest. */
  put(key: string, blob: Buffer, meta: ActionMeta): Promise<string>;
  /** Entries for the same module content, tool and flags on other bases, most recently used first. */
  related(inputs: Omit<ActionInputs, 'base'>): Promise<RelatedAction[]>;
}
