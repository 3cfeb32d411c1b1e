/**
 * The content-addressed blob directory: `cas/ab/abcdef…`, one immutable file per sha256.
 *
 * A blob is written through the atomic writer (temp file in its own subdir, fsync, rename, fsync
 * of the subdir), so a blob file either holds its full content or does not exist. This module
 * knows only files; which blobs are live is the database's business (see local-cache.ts).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ensurePrivateDir } from '../../shared/paths.js';
import { isAtomicTempFile, writeFileAtomic } from '../fs/atomic-file.js';
import { PRIVATE_FILE_MODE } from './database.js';

const DIGEST_RE = /^[0-9a-f]{64}$/;
const SUBDIR_RE = /^[0-9a-f]{2}$/;
/** Temp files of btfd versions before the shared atomic writer. */
const LEGACY_TEMP_PREFIX = '.tmp-';

/** Lowercase hex sha256 of `data`. */
export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** True for a lowercase hex sha256 digest; anything else never names a blob (no path tricks). */
export function isDigest(value: string): boolean {
  return DIGEST_RE.test(value);
}

/** A blob file found on disk. */
export interface BlobFile {
  readonly digest: string;
  readonly size: number;
}

/** A temp file left in the blob dir, possibly by a writer that died. */
export interface TempFile {
  readonly path: string;
  readonly mtimeMs: number;
}

function isErrno(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === code;
}

/** File operations on one blob directory. */
export interface Cas {
  /** The blob directory (`<cache dir>/cas`). */
  readonly root: string;
  /** Where the blob with this digest lives (whether or not it exists). */
  blobPath(digest: string): string;
  /** Size of the blob file, or null when it does not exist. */
  sizeOf(digest: string): number | null;
  /**
   * Store `data` under `digest` (its sha256, computed by the caller). A file that already exists
   * with the right size is kept as it is: blobs are immutable. One with the wrong size is
   * certainly damaged and is replaced atomically.
   */
  write(digest: string, data: Uint8Array): Promise<void>;
  /** The raw bytes of a blob, unverified, or null when it does not exist. */
  read(digest: string): Promise<Buffer | null>;
  /** The same, synchronously (for a re-check under the database's write lock). */
  readSync(digest: string): Buffer | null;
  /** Delete a blob file; false when it was not there. */
  remove(digest: string): boolean;
  /** Every blob file and temp file under the root. */
  scan(): { blobs: BlobFile[]; temps: TempFile[] };
}

/** Open (creating if needed) the blob directory at `root`. */
export function createCas(root: string): Cas {
  ensurePrivateDir(root);
  const blobPath = (digest: string): string => path.join(root, digest.slice(0, 2), digest);
  const sizeOf = (digest: string): number | null => {
    try {
      return fs.statSync(blobPath(digest)).size;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return null;
      throw err;
    }
  };
  const orNull = (err: unknown): null => {
    if (isErrno(err, 'ENOENT')) return null;
    throw err;
  };
  return {
    root,
    blobPath,
    sizeOf,
    async write(digest, data) {
      if (!isDigest(digest)) throw new Error(`not a sha256 digest: ${JSON.stringify(digest)}`);
      if (sizeOf(digest) === data.length) return;
      ensurePrivateDir(path.join(root, digest.slice(0, 2)));
      await writeFileAtomic(blobPath(digest), data, { mode: PRIVATE_FILE_MODE });
    },
    read: (digest) => readFile(blobPath(digest)).catch(orNull),
    readSync(digest) {
      try {
        return fs.readFileSync(blobPath(digest));
      } catch (err) {
        return orNull(err);
      }
    },
    remove(digest) {
      try {
        fs.unlinkSync(blobPath(digest));
        return true;
      } catch (err) {
        if (isErrno(err, 'ENOENT')) return false;
        throw err;
      }
    },
    scan() {
      const blobs: BlobFile[] = [];
      const temps: TempFile[] = [];
      for (const sub of fs.readdirSync(root)) {
        if (!SUBDIR_RE.test(sub)) continue;
        const subdir = path.join(root, sub);
        let names: string[];
        try {
          names = fs.readdirSync(subdir);
        } catch (err) {
          if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) continue;
          throw err;
        }
        for (const name of names) {
          const file = path.join(subdir, name);
          let stat: fs.Stats;
          try {
            stat = fs.statSync(file);
          } catch (err) {
            if (isErrno(err, 'ENOENT')) continue; // removed under us by another process
            throw err;
          }
          if (!stat.isFile()) continue;
          if (isAtomicTempFile(name) || name.startsWith(LEGACY_TEMP_PREFIX)) temps.push({ path: file, mtimeMs: stat.mtimeMs });
          else if (isDigest(name) && name.startsWith(sub)) blobs.push({ digest: name, size: stat.size });
        }
      }
      return { blobs, temps };
    },
  };
}
