/**
 * Watched-tree registrations, kept in the cache database so they survive daemon restarts, with
 * each tree's last build that changed something (status shows it after a restart too).
 */
import type { TreeBuild } from '../../shared/build-types.js';
import type { Db, Guarded } from './database.js';

/** A tree the daemon watches: its dir, and the base, flags and pahole given when it was registered. */
export interface TreeRegistration {
  readonly dir: string;
  readonly base: string | null;
  readonly flags: string | null;
  /** The pahole its builds run; null: the daemon's default. */
  readonly pahole: string | null;
  readonly createdMs: number;
  /** The tree's last build that changed (or failed on) a module; null before the first. */
  readonly lastBuild?: TreeBuild | null;
}

export interface TreeRegistry {
  /** Register (or update) a tree. */
  put(tree: TreeRegistration): void;
  /** Keep a tree's last build that changed something. */
  recordBuild(dir: string, build: TreeBuild): void;
  /** Forget a tree; true when it was registered. */
  remove(dir: string): boolean;
  /** Every registered tree, sorted by dir. */
  list(): TreeRegistration[];
}

/** A stored build record, or null when there is none or it cannot be read (it is only history). */
function parseBuild(json: string | null): TreeBuild | null {
  if (json === null) return null;
  try {
    return JSON.parse(json) as TreeBuild;
  } catch {
    return null;
  }
}

export function createTreeRegistry(db: Db, guarded: Guarded): TreeRegistry {
  const sql = {
    put: db.prepare<[string, string | null, string | null, string | null, bigint]>(
      `INSERT INTO trees (dir, base, flags, pahole, created_ms) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (dir) DO UPDATE SET base = excluded.base, flags = excluded.flags, pahole = excluded.pahole`,
    ),
    recordBuild: db.prepare<[string, string]>(`UPDATE trees SET last_build_json = ? WHERE dir = ?`),
    delete: db.prepare<[string]>(`DELETE FROM trees WHERE dir = ?`),
    all: db.prepare<[], { dir: string; base: string | null; flags: string | null; pahole: string | null; created_ms: bigint; last_build_json: string | null }>(
      `SELECT dir, base, flags, pahole, created_ms, last_build_json FROM trees ORDER BY dir`,
    ),
  };
  return {
    put: (tree) =>
      guarded('tree registration', () => {
        sql.put.run(tree.dir, tree.base, tree.flags, tree.pahole, BigInt(Math.trunc(tree.createdMs)));
      }),
    recordBuild: (dir, build) =>
      guarded('tree build record', () => {
        sql.recordBuild.run(JSON.stringify(build), dir);
      }),
    remove: (dir) => guarded('tree removal', () => sql.delete.run(dir).changes > 0),
    list: () =>
      guarded('tree list', () =>
        sql.all.all().map((row) => ({
          dir: row.dir, base: row.base, flags: row.flags, pahole: row.pahole, createdMs: Number(row.created_ms),
          lastBuild: parseBuild(row.last_build_json),
        }))),
  };
}
