/**
 * What btfd remembers of each module: the last key and its inputs, and the last *change* — the
 * outcome that wrote the module (or failed on it) and why. A pass that finds the module fresh
 * only moves its key, inputs and check time: it does not erase what the last build did. A failure
 * stays, with its code, until a build succeeds on the module. `btfd explain` and `btfd modules`
 * read it; the planner reads a module's previous inputs to say which one changed.
 */
import type { Db, Guarded } from './database.js';

/** The last key and verdict for one module. */
export interface ModuleRecord {
  readonly path: string;
  /** The key of the module's last successful build ('' when it never had one). */
  readonly key: string;
  /** Each key input's name → its digest or value (plus basePath and flagsSource). */
  readonly inputs: Readonly<Record<string, string>>;
  /** The outcome of the last build that changed something (or failed). */
  readonly outcome: string;
  readonly reason: string;
  /** When that outcome happened. */
  readonly updatedMs: number;
  /** When a build last looked at the module. */
  readonly checkedMs: number;
  /** The catalog code of the failure while the module is failed; null otherwise. */
  readonly errorCode: string | null;
}

/** A record as a successful build writes it (the check time defaults to its time). */
export type ModuleRecordInput = Omit<ModuleRecord, 'checkedMs' | 'errorCode'> & { readonly checkedMs?: number };

export interface ModuleRecords {
  /** Record a build that changed the module (or the first look at it): the whole record. */
  put(record: ModuleRecordInput): void;
  /** Record a pass that found the module as it should be: key, inputs and check time only. */
  checked(path: string, key: string, inputs: Readonly<Record<string, string>>, atMs: number): void;
  /** Record a failure, keeping the last good key and inputs (if any). */
  failed(path: string, failure: { readonly code: string; readonly message: string }, atMs: number): void;
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
  checked_ms: bigint | null;
  error_code: string | null;
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
    // Rows from before schema 5 were written whole at every build.
    checkedMs: Number(row.checked_ms ?? row.updated_ms),
    errorCode: row.error_code,
  };
}

const COLUMNS = 'path, key, inputs_json, outcome, reason, updated_ms, checked_ms, error_code';
/** The outcome a failure is recorded with (shared/module-actions.ts names it). */
const FAILED = 'failed';

const ms = (value: number): bigint => BigInt(Math.trunc(value));

export function createModuleRecords(db: Db, guarded: Guarded): ModuleRecords {
  const sql = {
    put: db.prepare<[string, string, string, string, string, bigint, bigint]>(
      `INSERT INTO modules (path, key, inputs_json, outcome, reason, updated_ms, checked_ms, error_code) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)
       ON CONFLICT (path) DO UPDATE SET
         key = excluded.key, inputs_json = excluded.inputs_json, outcome = excluded.outcome,
         reason = excluded.reason, updated_ms = excluded.updated_ms, checked_ms = excluded.checked_ms, error_code = NULL`,
    ),
    checked: db.prepare<[string, string, bigint, string]>(
      `UPDATE modules SET key = ?, inputs_json = ?, checked_ms = ? WHERE path = ?`,
    ),
    failed: db.prepare<[string, string, bigint, bigint, string]>(
      `INSERT INTO modules (path, key, inputs_json, outcome, reason, updated_ms, checked_ms, error_code) VALUES (?, '', '{}', '${FAILED}', ?, ?, ?, ?)
       ON CONFLICT (path) DO UPDATE SET
         outcome = '${FAILED}', reason = excluded.reason, updated_ms = excluded.updated_ms,
         checked_ms = excluded.checked_ms, error_code = excluded.error_code`,
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
        sql.put.run(record.path, record.key, JSON.stringify(record.inputs), record.outcome, record.reason, ms(record.updatedMs), ms(record.checkedMs ?? record.updatedMs));
      }),
    checked: (modulePath, key, inputs, atMs) =>
      guarded('module check', () => {
        sql.checked.run(key, JSON.stringify(inputs), ms(atMs), modulePath);
      }),
    failed: (modulePath, failure, atMs) =>
      guarded('module failure', () => {
        sql.failed.run(modulePath, failure.message, ms(atMs), ms(atMs), failure.code);
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
