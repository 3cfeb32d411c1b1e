/**
 * The one way btfd replaces or creates a file: write a temp file in the same directory, fsync it,
 * rename it over the target, fsync the directory. Readers see the old file or the new one, never
 * a part of either, and after a crash the rename either happened or did not.
 *
 * Temp files are named `.NAME.btfd-PID-RANDOM.tmp` beside the target (PID in hex), so a sweep can
 * tell btfd's own leftovers (from a process killed mid-write) from anything else, and from a
 * write in flight in another live process; watchers ignore them.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { processAlive } from './process-alive.js';

/** `.NAME.btfd-PID-RANDOM.tmp`; older btfd wrote `.NAME.btfd-RANDOM.tmp` (no PID). */
const TEMP_FILE_RE = /^\..+\.btfd-(?:([0-9a-f]+)-)?[0-9a-f]+\.tmp$/;

/** True for the name of a temp file this module creates. */
export function isAtomicTempFile(name: string): boolean {
  return TEMP_FILE_RE.test(name);
}

export interface AtomicWriteOptions {
  /** Mode of the new file; default 0600. */
  readonly mode?: number;
  /** Owner to give the new file (the one it replaces had); only root can, anyone else keeps theirs. */
  readonly owner?: { readonly uid: number; readonly gid: number };
  /** Called after the temp file is complete, just before the rename; throwing cancels the write. */
  readonly beforeRename?: () => Promise<void>;
}

/** What a write puts in the file: its bytes, or a function filling the open temp file. */
export type FileContent = Uint8Array | ((file: FileHandle) => Promise<void>);

/**
 * Write `content` to `file` atomically. On any failure the temp file is removed and the error
 * rethrown as it is; the target is untouched unless the rename happened.
 */
export async function writeFileAtomic(file: string, content: FileContent, options: AtomicWriteOptions = {}): Promise<void> {
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}.btfd-${process.pid.toString(16)}-${randomBytes(6).toString('hex')}.tmp`);
  let handle: FileHandle | undefined;
  try {
    handle = await fsp.open(temp, 'wx', options.mode ?? 0o600);
    if (typeof content === 'function') await content(handle);
    else await handle.writeFile(content);
    // open()'s mode is filtered by the umask: set the one asked for.
    if (options.mode !== undefined) await handle.chmod(options.mode);
    if (options.owner) {
      const mine = await handle.stat();
      if (mine.uid !== options.owner.uid || mine.gid !== options.owner.gid) {
        await handle.chown(options.owner.uid, options.owner.gid).catch(() => undefined);
      }
    }
    await handle.sync();
    await handle.close();
    handle = undefined;
    await options.beforeRename?.();
    await fsp.rename(temp, file);
  } catch (err) {
    if (handle !== undefined) await handle.close().catch(() => undefined);
    await fsp.rm(temp, { force: true }).catch(() => undefined);
    throw err;
  }
  await syncDir(dir);
}

/**
 * Remove the temp files earlier writes of `file` left behind (a process killed mid-write), of
 * any age: this process's own (the caller holds the file's lock, so none of its writes of it is
 * in flight), those of processes that are gone, and unnamed ones of an older btfd. A live other
 * process's (a `--no-daemon` run beside the daemon) are left to it.
 * @returns how many were removed
 */
export async function sweepTempFilesOf(file: string): Promise<number> {
  const prefix = `.${path.basename(file)}.btfd-`;
  const names = await fsp.readdir(path.dirname(file)).catch(() => [] as string[]);
  let removed = 0;
  for (const name of names) {
    const match = name.startsWith(prefix) ? TEMP_FILE_RE.exec(name) : null;
    if (match === null) continue;
    const writer = match[1] === undefined ? null : Number.parseInt(match[1], 16);
    if (writer !== null && writer !== process.pid && processAlive(writer)) continue;
    await fsp.unlink(path.join(path.dirname(file), name)).then(() => removed++, () => undefined);
  }
  return removed;
}

/** fsync a directory, so that a rename into it is durable. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
