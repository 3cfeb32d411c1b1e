/** Watched-tree registrations, kept in the cache database so they survive daemon restarts. */
import type { Db, Guarded } from './database.js';

/** A tree the daemon watches: its dir, and the base, flags and pahole given when it was registered. */
export interface TreeRegistration {
  readonly dir: string;
  readonly base: string | null;
  readonly flags: string | null;
  /** The pahole its builds run; null: the daemon's default. */
  readonly pahole: string | null;
  readonly createdMs: number;
}

export interface TreeRegistry {
  /** Register (or update) a tree. */
  put(tree: TreeRegistration): void;
  /** Forget a tree; true when it was registered. */
  remove(dir: string): boolean;
  /** Every registered tree, sorted by dir. */
  list(): TreeRegistration[];
}

export function createTreeRegistry(db: Db, guarded: Guarded): TreeRegistry {
  const sql = {
    put: db.prepare<[string, string | null, string | null, string | null, bigint]>(
      `INSERT INTO trees (dir, base, flags, pahole, created_ms) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (dir) DO UPDATE SET base = excluded.base, flags = excluded.flags, pahole = excluded.pahole`,
    ),
    delete: db.prepare<[string]>(`DELETE FROM trees WHERE dir = ?`),
    all: db.prepare<[], { dir: string; base: string | null; flags: string | null; pahole: string | null; created_ms: bigint }>(
      `SELECT dir, base, flags, pahole, created_ms FROM trees ORDER BY dir`,
    ),
  };
  return {
    put: (tree) =>
      guarded('tree registration', () => {
        sql.put.run(tree.dir, tree.base, tree.flags, tree.pahole, BigInt(Math.trunc(tree.createdMs)));
      }),
    remove: (dir) => guarded('tree removal', () => sql.delete.run(dir).changes > 0),
    list: () =>
      guarded('tree list', () =>
        sql.all.all().map((row) => ({ dir: row.dir, base: row.base, flags: row.flags, pahole: row.pahole, createdMs: Number(row.created_ms) }))),
  };
}
