/**
 * The artifact cache as the engine sees it: an action cache (key → artifact) over blobs named by
 * their sha256, behind one small async interface, so that tiers (the local SQLite + CAS store
 * first; remote ones later) compose behind it the way ccache's Storage::get and sccache's
 * `Storage` trait do.
 *
 * Contract every tier keeps:
 * - `lookup` has no side effects; `touch` records a use (for LRU eviction) separately.
 * - `read` returns a blob only after checking it against its digest; a bad blob is a miss.
 * - `put` makes the blob durable before the entry that names it (the entry is the commit point).
 */

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

export interface ArtifactCache {
  /** The entry for `key`, or null on a miss; touches nothing. */
  lookup(key: string): Promise<CachedAction | null>;
  /** Record a use of `key` (its entry stays in the cache longer). */
  touch(key: string): Promise<void>;
  /** The blob's bytes, verified against `digest`; null when it is missing or corrupt. */
  read(digest: string): Promise<Buffer | null>;
  /** Store `blob`, then map `key` to it; resolves with the blob's digest. */
  put(key: string, blob: Buffer, meta: ActionMeta): Promise<string>;
  /** Drop a blob that must not be used, and every entry naming it. */
  discard(digest: string): Promise<void>;
  /** Entries for the same module content, tool and flags on other bases, most recently used first. */
  related(inputs: Omit<ActionInputs, 'base'>): Promise<RelatedAction[]>;
}
