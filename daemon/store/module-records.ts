/**
 * What btfd remembers of each module it built: the last key, its inputs, the outcome and why.
 * `btfd explain` and `btfd modules` read it; the planner reads a module's previous inputs to say
 * which one changed.
 */
import type { Db, Guarded } from './database.js';

/** The last key and verdict for one module. */
export interface ModuleRecord {
  readonly path: string;
  readonly key: string;
  /** Each key input's name → its digest or value (plus basePath and flagsSource). */
  readonly inputs: Readonly<Record<string, string>>;
  readonly outcome: string;
  readonly reason: string;
  readonly updatedMs: number;
}

export interface ModuleRecords {
  put(record: ModuleRecord): void;
  get(path: string): ModuleRecord | null;
  /** Records whose path starts with `prefix` (a plain string prefix), sorted by path. */
  list(prefix?: string): ModuleRecord[];
  /** Forget a module that no longer exists; true when it was known. */
  forget(path: string): boolean;
  clear(): void;
}

interface ModuleRow {
  path: string;
  key: string;
  inputs_json: string;
  outcome: string;
  reason: string;
  updated_ms: bigint;
}

function parseInputs(json: string): Record<string, string> {
  try {
    const value: unknown = JSON.parse(json);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return {};
    return Object.fromEntries(Object.entries(value).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
  } catch {
    return {};
  }
}

function toRecord(row: ModuleRow): ModuleRecord {
  return {
    path: row.path, key: row.key, inputs: parseInputs(row.inputs_json), outcome: row.outcome, reason: row.reason,
    updatedMs: Number(row.updated_ms),
  };
}

const COLUMNS = 'path, key, inputs_json, outcome, reason, updated_ms';

export function createModuleRecords(db: Db, guarded: Guarded): ModuleRecords {
  const sql = {
    put: db.prepare<[string, string, string, string, string, bigint]>(
      `INSERT INTO modules (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (path) DO UPDATE SET
         key = excluded.key, inputs_json = excluded.inputs_json, outcome = excluded.outcome,
         reason = excluded.reason, updated_ms = excluded.updated_ms`,
    ),
    get: db.prepare<[string], ModuleRow>(`SELECT ${COLUMNS} FROM modules WHERE path = ?`),
    all: db.prepare<[], ModuleRow>(`SELECT ${COLUMNS} FROM modules ORDER BY path`),
    // instr() = 1 is a literal prefix test: no LIKE wildcards to escape in paths.
    prefixed: db.prepare<[string], ModuleRow>(`SELECT ${COLUMNS} FROM modules WHERE instr(path, ?) = 1 ORDER BY path`),
    delete: db.prepare<[string]>(`DELETE FROM modules WHERE path = ?`),
    clear: db.prepare(`DELETE FROM modules`),
  };
  return {
    put: (record) =>
      guarded('module record', () => {
        sql.put.run(record.path, record.key, JSON.stringify(record.inputs), record.outcome, record.reason, BigInt(Math.trunc(record.updatedMs)));
      }),
    get: (modulePath) =>
      guarded('module lookup', () => {
        const row = sql.get.get(modulePath);
        return row === undefined ? null : toRecord(row);
      }),
    list: (prefix) =>
      guarded('module list', () => (prefix === undefined || prefix === '' ? sql.all.all() : sql.prefixed.all(prefix)).map(toRecord)),
    forget: (modulePath) => guarded('module forget', () => sql.delete.run(modulePath).changes > 0),
    clear: () =>
      guarded('module records clear', () => {
        sql.clear.run();
      }),
  };
}
