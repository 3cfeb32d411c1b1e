/**
 * The local tier of the artifact cache: action entries in SQLite, blobs in the CAS dir beside it.
 * This module owns the SQL of the `actions` and `blobs` tables.
 *
 * Invariants, and why:
 * - A blob file is written and fsynced before the row that names it; the row is the commit point.
 *   A crash in between leaves an orphan file (gc/verify remove it), never a row without a blob.
 * - Writers that delete files (gc, verify, clear, a failed read's cleanup) hold SQLite's write
 *   lock (IMMEDIATE transactions) while they delete, and `put` re-checks its blob under the same
 *   lock before committing its row. So another process (a daemon and a `--no-daemon` CLI share
 *   the dir) can never commit a row for a blob that a concurrent sweep is removing.
 * - Every blob read is verified against its digest; a bad blob is a miss that removes the file
 *   and every row naming it (counted as corrupt or missing), so the caller regenerates.
 */
import fs from 'node:fs';
import type { CacheGcResult, CacheVerifyResult } from '../../shared/build-types.js';
import { BtfdError } from '../../shared/errors.js';
import type { ArtifactCache, FoundAction, RelatedAction } from './artifact-cache.js';
import { isDigest, sha256Hex, type Cas } from './cas.js';
import type { Counters } from './counters.js';
import type { Db, Guarded } from './database.js';

/** A temp blob file older than this is a leftover of a dead writer, not a write in progress. */
export const STALE_TEMP_MS = 10 * 60 * 1000;
/** Attempts at committing a blob that a concurrent sweep keeps removing. */
const PUT_ATTEMPTS = 3;

/** The local tier, with what only it can do: blobs by digest, size accounting and maintenance. */
export interface LocalArtifactCache extends ArtifactCache {
  /** The blob's bytes, verified against `digest`; null when it is missing or corrupt (and then dropped). */
  read(digest: string): Promise<Buffer | null>;
  /** Drop a blob that must not be used, and every entry naming it. */
  discard(digest: string): Promise<void>;
  /** Where a blob's file is (whether or not it exists); readers must verify its digest. */
  blobPath(digest: string): string;
  /** `touch`, synchronously (for Store.batch). */
  touchNow(key: string): void;
  /** Entries, blobs and their bytes. */
  totals(): { entries: number; blobs: number; bytes: number };
  /** Evict entries least recently used first until blob bytes <= maxBytes; also drops orphans. */
  gc(maxBytes: number): CacheGcResult;
  /** Re-hash every blob; drop bad ones and their rows; delete orphan blob files. */
  verify(): CacheVerifyResult;
  /** Remove every entry and blob. */
  clear(): void;
}

interface DigestSize {
  digest: string;
  size: bigint;
}

type ActionRow = { artifact_digest: string; outputs_digest: string; cost_ms: bigint };

function toAction(row: ActionRow): FoundAction & { tier: 'local' } {
  return { artifactDigest: row.artifact_digest, outputsDigest: row.outputs_digest, costMs: Number(row.cost_ms), tier: 'local' };
}

export function createLocalArtifactCache(db: Db, cas: Cas, counters: Counters, guarded: Guarded, nowMs: () => number): LocalArtifactCache {
  const now = (): bigint => BigInt(Math.trunc(nowMs()));
  const sql = {
    // Rows of an older key schema have no outputs digest; they can never be asked for again.
    actionGet: db.prepare<[string], ActionRow>(
      `SELECT artifact_digest, outputs_digest, cost_ms FROM actions WHERE key = ? AND outputs_digest IS NOT NULL`,
    ),
    actionTouch: db.prepare<[bigint, string]>(`UPDATE actions SET last_used_ms = max(last_used_ms, ?) WHERE key = ?`),
    actionPut: db.prepare<[string, string, bigint, bigint, bigint, string, string, string, string, string]>(
      `INSERT INTO actions (key, artifact_digest, created_ms, last_used_ms, cost_ms, outputs_digest, tool, flags, base, module)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET
         created_ms = CASE WHEN artifact_digest = excluded.artifact_digest THEN created_ms ELSE excluded.created_ms END,
         artifact_digest = excluded.artifact_digest,
         last_used_ms = max(last_used_ms, excluded.last_used_ms),
         cost_ms = excluded.cost_ms,
         outputs_digest = excluded.outputs_digest,
         tool = excluded.tool, flags = excluded.flags, base = excluded.base, module = excluded.module`,
    ),
    related: db.prepare<[string, string, string], ActionRow & { key: string; base: string }>(
      `SELECT key, base, artifact_digest, outputs_digest, cost_ms FROM actions
        WHERE module = ? AND tool = ? AND flags = ? AND outputs_digest IS NOT NULL ORDER BY last_used_ms DESC, created_ms DESC`,
    ),
    actionDelete: db.prepare<[string]>(`DELETE FROM actions WHERE key = ?`),
    actionsByDigestDelete: db.prepare<[string]>(`DELETE FROM actions WHERE artifact_digest = ?`),
    actionsLru: db.prepare<[], { key: string; artifact_digest: string }>(`SELECT key, artifact_digest FROM actions ORDER BY last_used_ms, key`),
    digestRefs: db.prepare<[string], bigint>(`SELECT count(*) FROM actions WHERE artifact_digest = ?`).pluck(),
    blobPut: db.prepare<[string, bigint, bigint]>(`INSERT INTO blobs (digest, size, created_ms) VALUES (?, ?, ?) ON CONFLICT (digest) DO NOTHING`),
    blobGet: db.prepare<[string], DigestSize>(`SELECT digest, size FROM blobs WHERE digest = ?`),
    blobDelete: db.prepare<[string]>(`DELETE FROM blobs WHERE digest = ?`),
    blobsAll: db.prepare<[], DigestSize>(`SELECT digest, size FROM blobs`),
    blobsUnreferenced: db.prepare<[], DigestSize>(
      `SELECT digest, size FROM blobs WHERE NOT EXISTS (SELECT 1 FROM actions WHERE actions.artifact_digest = blobs.digest)`,
    ),
    blobBytes: db.prepare<[], bigint>(`SELECT coalesce(sum(size), 0) FROM blobs`).pluck(),
    // Every digest some row names: a file outside this set is an orphan.
    referencedDigests: db.prepare<[], string>(`SELECT digest FROM blobs UNION SELECT artifact_digest FROM actions`).pluck(),
    totals: db.prepare<[], { entries: bigint; blobs: bigint; bytes: bigint }>(
      `SELECT (SELECT count(*) FROM actions) AS entries, (SELECT count(*) FROM blobs) AS blobs,
              (SELECT coalesce(sum(size), 0) FROM blobs) AS bytes`,
    ),
    clearActions: db.prepare(`DELETE FROM actions`),
    clearBlobs: db.prepare(`DELETE FROM blobs`),
  };

  /** Remove every row naming `digest` (under the caller's write lock); returns action rows removed. */
  const dropDigestRows = (digest: string): number => {
    const removed = sql.actionsByDigestDelete.run(digest).changes;
    sql.blobDelete.run(digest);
    return removed;
  };

  const verifies = (digest: string, data: Buffer | null): data is Buffer => data !== null && sha256Hex(data) === digest;

  /**
   * Delete blob files no row names, and temp files left by dead writers. Must run under the
   * write lock: `put` re-checks its file under the same lock before committing its row.
   */
  const sweepOrphans = (): { files: number; bytes: number } => {
    const referenced = new Set(sql.referencedDigests.all());
    const { blobs, temps } = cas.scan();
    let files = 0;
    let bytes = 0;
    for (const blob of blobs) {
      if (referenced.has(blob.digest)) continue;
      if (cas.remove(blob.digest)) {
        files++;
        bytes += blob.size;
      }
    }
    const cutoff = nowMs() - STALE_TEMP_MS;
    for (const temp of temps) {
      if (temp.mtimeMs >= cutoff) continue;
      fs.rmSync(temp.path, { force: true });
      files++;
    }
    return { files, bytes };
  };

  async function read(digest: string): Promise<Buffer | null> {
    if (!isDigest(digest)) return null;
    const data = await guarded('blob read', () => cas.read(digest));
    if (verifies(digest, data)) return data;
    return guarded('blob read', () =>
      db.transaction((): Buffer | null => {
        // Look again under the lock: another process may have rewritten the blob meanwhile.
        const again = cas.readSync(digest);
        if (verifies(digest, again)) return again;
        if (again === null) counters.add('missing');
        else {
          cas.remove(digest);
          counters.add('corrupt');
        }
        dropDigestRows(digest);
        return null;
      }).immediate());
  }

  const discard = async (digest: string): Promise<void> =>
    guarded('blob discard', () => {
      db.transaction(() => {
        if (isDigest(digest)) cas.remove(digest);
        counters.add('corrupt');
        dropDigestRows(digest);
      }).immediate();
    });

  const touchNow = (key: string): void =>
    guarded('action cache touch', () => {
      sql.actionTouch.run(now(), key);
    });

  return {
    blobPath: (digest) => cas.blobPath(digest),

    lookup: async (key) =>
      guarded('action cache lookup', () => {
        const row = sql.actionGet.get(key);
        return row === undefined ? null : toAction(row);
      }),

    touchNow,
    touch: async (key) => touchNow(key),

    related: async ({ module, tool, flags }) =>
      guarded('action cache related', () =>
        sql.related.all(module, tool, flags).map((row): RelatedAction => {
          const { tier: _tier, ...action } = toAction(row);
          return { ...action, key: row.key, base: row.base };
        })),

    async put(key, artifact, meta) {
      const digest = sha256Hex(artifact);
      const cost = BigInt(Math.max(0, Math.round(meta.costMs)));
      const { tool, flags, base, module } = meta.inputs;
      for (let attempt = 1; ; attempt++) {
        // The slow part (write + fsync) happens outside the lock ...
        await guarded('blob write', () => cas.write(digest, artifact));
        const committed = guarded('action cache store', () =>
          db.transaction((): boolean => {
            // ... and its file is re-checked under it: a concurrent orphan sweep may have removed it.
            if (cas.sizeOf(digest) !== artifact.length) return false;
            const at = now();
            sql.blobPut.run(digest, BigInt(artifact.length), at);
            sql.actionPut.run(key, digest, at, at, cost, meta.outputsDigest, tool, flags, base, module);
            return true;
          }).immediate());
        if (committed) return digest;
        if (attempt >= PUT_ATTEMPTS) throw new BtfdError('BTFD_ERR_CACHE_UNAVAILABLE', `blob ${digest} keeps disappearing while being stored`);
      }
    },

    async load(_key, found, accept) {
      const blob = await read(found.artifactDigest);
      if (blob === null) return null;
      const value = await accept(blob);
      if (value === null) await discard(found.artifactDigest);
      return value;
    },

    read,
    discard,

    totals: () =>
      guarded('cache totals', () => {
        const row = sql.totals.get();
        return { entries: Number(row?.entries ?? 0n), blobs: Number(row?.blobs ?? 0n), bytes: Number(row?.bytes ?? 0n) };
      }),

    gc: (maxBytes) =>
      guarded('cache gc', () => {
        const limit = BigInt(maxBytes);
        // Files are deleted inside the transaction so no other process can commit a row for them
        // meanwhile; if the transaction rolls back, rows may name deleted files, which read and
        // verify treat as misses.
        return db.transaction((): CacheGcResult => {
          let removedEntries = 0;
          let removedBytes = 0;
          // Rows whose file is gone would count bytes that are not there.
          const onDisk = new Set(cas.scan().blobs.map((b) => b.digest));
          for (const blob of sql.blobsAll.all()) {
            if (onDisk.has(blob.digest)) continue;
            removedEntries += dropDigestRows(blob.digest);
            counters.add('missing');
          }
          for (const blob of sql.blobsUnreferenced.all()) {
            sql.blobDelete.run(blob.digest);
            if (cas.remove(blob.digest)) removedBytes += Number(blob.size);
          }
          removedBytes += sweepOrphans().bytes;
          let total = sql.blobBytes.get() ?? 0n;
          for (const action of total > limit ? sql.actionsLru.all() : []) {
            if (total <= limit) break;
            sql.actionDelete.run(action.key);
            removedEntries++;
            if ((sql.digestRefs.get(action.artifact_digest) ?? 0n) > 0n) continue;
            const blob = sql.blobGet.get(action.artifact_digest);
            if (blob === undefined) continue;
            sql.blobDelete.run(blob.digest);
            cas.remove(blob.digest);
            total -= blob.size;
            removedBytes += Number(blob.size);
          }
          return { removedEntries, removedBytes };
        }).immediate();
      }),

    verify: () =>
      guarded('cache verify', () => {
        // Hash without the write lock (it may take a while on a big cache); confirm under it.
        const suspects: string[] = [];
        const digests = sql.referencedDigests.all();
        for (const digest of digests) if (!verifies(digest, isDigest(digest) ? cas.readSync(digest) : null)) suspects.push(digest);
        return db.transaction((): CacheVerifyResult => {
          const corrupt: string[] = [];
          const missing: string[] = [];
          for (const digest of suspects) {
            const data = isDigest(digest) ? cas.readSync(digest) : null;
            if (verifies(digest, data)) continue;
            if (data === null) {
              missing.push(digest);
              counters.add('missing');
            } else {
              cas.remove(digest);
              corrupt.push(digest);
              counters.add('corrupt');
            }
            dropDigestRows(digest);
          }
          return { checked: digests.length, corrupt, missing, orphans: sweepOrphans().files };
        }).immediate();
      }),

    clear: () =>
      guarded('cache clear', () => {
        db.transaction(() => {
          sql.clearActions.run();
          sql.clearBlobs.run();
          sweepOrphans();
        }).immediate();
      }),
  };
}
