/**
 * Cache counters that outlive the process (`btfd cache stats`): hits, misses, relocations, the
 * pahole time hits and relocations saved, and blobs dropped as corrupt or missing. Kept in the database, so a daemon and a
 * `--no-daemon` CLI add to the same totals.
 */
import type { Db, Guarded } from './database.js';

export const COUNTER_NAMES = ['hits', 'misses', 'relocated', 'saved_ms', 'corrupt', 'missing'] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];

export interface Counters {
  add(name: CounterName, by?: number): void;
  read(): Record<CounterName, number>;
  /** Back to zero (`btfd cache stats --zero`, `cache clear`). */
  zero(): void;
}

export function createCounters(db: Db, guarded: Guarded): Counters {
  const sql = {
    add: db.prepare<[string, bigint]>(
      `INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = value + excluded.value`,
    ),
    all: db.prepare<[], { name: string; value: bigint }>(`SELECT name, value FROM counters`),
    zero: db.prepare(`DELETE FROM counters`),
  };
  return {
    add: (name, by = 1) =>
      guarded('cache counter', () => {
        sql.add.run(name, BigInt(Math.max(0, Math.round(by))));
      }),
    read: () =>
      guarded('cache counters', () => {
        const values = new Map(sql.all.all().map((row) => [row.name, Number(row.value)]));
        return Object.fromEntries(COUNTER_NAMES.map((name) => [name, values.get(name) ?? 0])) as Record<CounterName, number>;
      }),
    zero: () =>
      guarded('cache counters', () => {
        sql.zero.run();
      }),
  };
}
