/**
 * Base snapshots: the base BTF bytes btfd keyed a build on, kept as raw BTF files named by their
 * sha256 (`<cache>/bases/<digest>.btf`).
 *
 * pahole is always given a snapshot as its `--btf_base`, never the live vmlinux: a relink that
 * replaces vmlinux while a build runs then cannot make pahole read other bytes than the ones the
 * key names. Snapshots are also the old bases btfd can look back at — to put back the flags of a
 * `.BTF_ids` set resolved against an earlier vmlinux, and to relocate cached module BTF.
 *
 * A snapshot is written atomically and is immutable; it is named by the hash of the bytes written.
 * The least recently used are removed beyond a count.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ensurePrivateDir } from '../../shared/paths.js';
import { writeFileAtomic } from '../fs/atomic-file.js';

const SNAPSHOT_RE = /^([0-9a-f]{64})\.btf$/;
/** Snapshots kept; a vmlinux BTF is 5–10 MB. */
export const DEFAULT_BASE_SNAPSHOTS_KEPT = 12;

export interface BaseSnapshots {
  readonly dir: string;
  /** Path of the snapshot with this digest (whether or not it exists). */
  pathOf(digest: string): string;
  /** True when the snapshot exists; marks it used. */
  has(digest: string): boolean;
  /** True when the snapshot exists; touches nothing. */
  exists(digest: string): boolean;
  /** Write bytes as the snapshot of their own digest (no-op when present); resolves with the digest. */
  put(bytes: Buffer): Promise<string>;
  /** Digests of existing snapshots, most recently used first. */
  list(): string[];
  /** Remove the least recently used beyond `keep`. */
  prune(keep?: number): void;
}

/** How often a snapshot's use is written to its mtime (the LRU order needs no finer grain). */
const TOUCH_INTERVAL_MS = 60_000;

export function createBaseSnapshots(dir: string): BaseSnapshots {
  ensurePrivateDir(dir);
  const pathOf = (digest: string): string => path.join(dir, `${digest}.btf`);
  /** When this process last marked each snapshot used: a build asks about its base per module. */
  const touchedAt = new Map<string, number>();
  const touch = (file: string): void => {
    const now = Date.now();
    if (now - (touchedAt.get(file) ?? -Infinity) < TOUCH_INTERVAL_MS) return;
    touchedAt.set(file, now);
    try {
      fs.utimesSync(file, now / 1000, now / 1000);
    } catch {
      // Removed by a prune meanwhile: the caller writes it again.
    }
  };
  const list = (): string[] =>
    fs.readdirSync(dir)
      .flatMap((name) => {
        const digest = SNAPSHOT_RE.exec(name)?.[1];
        if (digest === undefined) return [];
        const st = fs.statSync(path.join(dir, name), { throwIfNoEntry: false });
        return st ? [{ digest, mtimeMs: st.mtimeMs }] : [];
      })
      .sort((a, b) => b.mtimeMs - a.mtimeMs)
      .map((s) => s.digest);
  return {
    dir,
    pathOf,
    exists: (digest) => fs.existsSync(pathOf(digest)),
    has(digest) {
      const file = pathOf(digest);
      if (!fs.existsSync(file)) return false;
      touch(file);
      return true;
    },
    async put(bytes) {
      const digest = createHash('sha256').update(bytes).digest('hex');
      const file = pathOf(digest);
      if (fs.existsSync(file)) touch(file);
      else await writeFileAtomic(file, bytes, { mode: 0o600 });
      return digest;
    },
    list,
    prune(keep = DEFAULT_BASE_SNAPSHOTS_KEPT) {
      for (const digest of list().slice(keep)) fs.rmSync(pathOf(digest), { force: true });
    },
  };
}
