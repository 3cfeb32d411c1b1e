/**
 * The content-addressed blob directory: `cas/ab/abcdef…`, one immutable file per sha256.
 *
 * A blob is written to a temp file in its own subdir, fsynced, renamed into place and the subdir
 * fsynced, so a blob file either holds its full content or does not exist. This module knows only
 * files; which blobs are live is the database's business (see store.ts).
 */

import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** Mode of every directory the store creates: private to the owner. */
export const PRIVATE_DIR_MODE = 0o700;
/** Mode of every file the store creates. */
export const PRIVATE_FILE_MODE = 0o600;

const DIGEST_RE = /^[0-9a-f]{64}$/;
const SUBDIR_RE = /^[0-9a-f]{2}$/;
const TEMP_PREFIX = '.tmp-';

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

/** Create `dir` with private mode if it does not exist; never loosens or tightens an existing one. */
export function ensurePrivateDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { mode: PRIVATE_DIR_MODE });
    // mkdir's mode is filtered by the umask; a strict umask is fine, a loose one is not our call.
    fs.chmodSync(dir, PRIVATE_DIR_MODE);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

function isErrno(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === code;
}

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
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
  write(digest: string, data: Uint8Array): void;
  /** The raw bytes of a blob, unverified, or null when it does not exist. */
  read(digest: string): Buffer | null;
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

  const write = (digest: string, data: Uint8Array): void => {
    if (!isDigest(digest)) throw new Error(`not a sha256 digest: ${JSON.stringify(digest)}`);
    if (sizeOf(digest) === data.length) return;
    const subdir = path.join(root, digest.slice(0, 2));
    ensurePrivateDir(subdir);
    // Same dir as the target so rename is atomic; a random name so writers never collide.
    const temp = path.join(subdir, `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`);
    const fd = fs.openSync(temp, 'wx', PRIVATE_FILE_MODE);
    try {
      try {
        fs.writeFileSync(fd, data);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(temp, blobPath(digest));
    } catch (err) {
      fs.rmSync(temp, { force: true });
      throw err;
    }
    // Make the rename itself durable before the caller commits the row that points at it.
    fsyncDir(subdir);
  };

  const read = (digest: string): Buffer | null => {
    try {
      return fs.readFileSync(blobPath(digest));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return null;
      throw err;
    }
  };

  const remove = (digest: string): boolean => {
    try {
      fs.unlinkSync(blobPath(digest));
      return true;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return false;
      throw err;
    }
  };

  const scan = (): { blobs: BlobFile[]; temps: TempFile[] } => {
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
        if (name.startsWith(TEMP_PREFIX)) temps.push({ path: file, mtimeMs: stat.mtimeMs });
        else if (isDigest(name) && name.startsWith(sub)) blobs.push({ digest: name, size: stat.size });
      }
    }
    return { blobs, temps };
  };

  return { root, blobPath, sizeOf, write, read, remove, scan };
}
