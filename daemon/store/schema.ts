/**
 * The cache database's schema and its versioned migrations.
 *
 * The version lives in `PRAGMA user_version`. Each migration moves the schema up by one and runs in
 * an IMMEDIATE transaction together with the version bump, so two processes opening a fresh cache
 * at the same moment serialise on the write lock and the second one finds nothing left to do.
 * A database whose version is newer than this code knows is refused rather than guessed at: an
 * older btfd must not write rows a newer one would misread.
 */

import type Database from 'better-sqlite3';
import { BtfdError } from '../../shared/errors.js';

/** One step up the schema; `MIGRATIONS[i]` takes user_version i to i + 1. */
const MIGRATIONS: readonly string[] = [
  // 0 → 1: the first schema.
  `
  CREATE TABLE files (
    path           TEXT PRIMARY KEY,
    dev            INTEGER NOT NULL,
    ino            INTEGER NOT NULL,
    size           INTEGER NOT NULL,
    mtime_ns       INTEGER NOT NULL,
    ctime_ns       INTEGER NOT NULL,
    recorded_ns    INTEGER NOT NULL,
    content_digest TEXT NOT NULL,
    outputs_digest TEXT
  ) STRICT;
  CREATE TABLE blobs (
    digest     TEXT PRIMARY KEY,
    size       INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
  ) STRICT;
  CREATE TABLE actions (
    key             TEXT PRIMARY KEY,
    artifact_digest TEXT NOT NULL,
    created_ms      INTEGER NOT NULL,
    last_used_ms    INTEGER NOT NULL,
    cost_ms         INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX actions_by_last_used ON actions (last_used_ms, key);
  CREATE INDEX actions_by_artifact ON actions (artifact_digest);
  CREATE TABLE modules (
    path        TEXT PRIMARY KEY,
    key         TEXT NOT NULL,
    inputs_json TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    updated_ms  INTEGER NOT NULL
  ) STRICT;
  CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
  ) STRICT;
  `,
  // 1 → 2: trees the daemon watches, so registrations survive restarts.
  `
  CREATE TABLE trees (
    dir        TEXT PRIMARY KEY,
    base       TEXT,
    flags      TEXT,
    created_ms INTEGER NOT NULL
  ) STRICT;
  `,
  // 2 → 3: artifacts carry .BTF_ids and their inputs. Each action row records the digest of its
  // artifact's sections (what a fresh module holds) and the key's input digests, so that "this
  // module, tool and flags on another base" can be asked. Rows of older key schemas keep NULLs;
  // their keys never match again and LRU eviction retires them.
  `
  ALTER TABLE actions ADD COLUMN outputs_digest TEXT;
  ALTER TABLE actions ADD COLUMN tool TEXT;
  ALTER TABLE actions ADD COLUMN flags TEXT;
  ALTER TABLE actions ADD COLUMN base TEXT;
  ALTER TABLE actions ADD COLUMN module TEXT;
  CREATE INDEX actions_by_module ON actions (module, tool, flags);
  `,
  // 3 → 4: a watched tree's builds run the pahole it was registered with (NULL: the daemon's).
  `
  ALTER TABLE trees ADD COLUMN pahole TEXT;
  `,
  // 4 → 5: a module's last change is kept apart from its last check (a pass finding it fresh
  // updates only the check), a failure keeps its code until a build succeeds, and a watched tree
  // keeps its last build that changed something across restarts.
  `
  ALTER TABLE modules ADD COLUMN checked_ms INTEGER;
  ALTER TABLE modules ADD COLUMN error_code TEXT;
  ALTER TABLE trees ADD COLUMN last_build_json TEXT;
  `,
];

/** The schema version this code writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

function readVersion(db: Database.Database): number {
  const value: unknown = db.pragma('user_version', { simple: true });
  return Number(value);
}

/**
 * Bring `db` up to {@link SCHEMA_VERSION}.
 *
 * @throws BtfdError BTFD_ERR_CACHE_UNAVAILABLE when the database was written by a newer btfd.
 */
export function migrate(db: Database.Database, file: string): void {
  const refuseNewer = (found: number): BtfdError =>
    new BtfdError(
      'BTFD_ERR_CACHE_UNAVAILABLE',
      `cache database ${file} has schema version ${found}, newer than the ${SCHEMA_VERSION} this btfd knows: ` +
        'upgrade btfd, or move the cache dir aside',
    );

  // Cheap check without the write lock: the common case is an up-to-date database.
  const seen = readVersion(db);
  if (seen > SCHEMA_VERSION) throw refuseNewer(seen);
  if (seen === SCHEMA_VERSION) return;

  const upgrade = db.transaction(() => {
    // Re-read under the lock: another process may have migrated meanwhile.
    const current = readVersion(db);
    if (current > SCHEMA_VERSION) throw refuseNewer(current);
    for (let version = current; version < SCHEMA_VERSION; version++) {
      const step = MIGRATIONS[version];
      if (step === undefined) throw new Error(`missing migration ${version}`);
      db.exec(step);
    }
    // PRAGMA takes no bound parameters; SCHEMA_VERSION is a constant integer.
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  });
  upgrade.immediate();
}
