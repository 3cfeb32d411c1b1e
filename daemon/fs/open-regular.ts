/**
 * Opening an input (a module, a base) for reading without ever blocking on it.
 *
 * open(2) of a FIFO for reading waits for a writer, and it waits on one of libuv's four
 * threadpool threads: a FIFO named `x.ko` or `vmlinux` would stall every file operation of the
 * daemon, `btfd stop` included. O_NONBLOCK makes that open return at once (on a regular file the
 * flag changes nothing), and the caller refuses anything fstat does not call a regular file.
 */
import { constants, promises as fsp, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

const READ_WITHOUT_BLOCKING = constants.O_RDONLY | constants.O_NONBLOCK;
const READ_WRITE_WITHOUT_BLOCKING = constants.O_RDWR | constants.O_NONBLOCK;

/** An open regular file with its stat. */
export interface OpenedRegular {
  readonly handle: FileHandle;
  readonly stats: Stats;
}

/**
 * Open `file` for reading (or, with `access` 'read-write', for writing in place too); when it is
 * not a regular file (a FIFO, a device, a directory), close it and throw what `notRegular`
 * builds. Errors of open(2) itself are thrown as they are.
 */
export async function openRegular(
  file: string, notRegular: (stats: Stats) => Error, access: 'read' | 'read-write' = 'read',
): Promise<OpenedRegular> {
  const handle = await fsp.open(file, access === 'read' ? READ_WITHOUT_BLOCKING : READ_WRITE_WITHOUT_BLOCKING);
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw notRegular(stats);
    return { handle, stats };
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw err;
  }
}

/** What a non-regular file is, for messages: "a FIFO", "a directory", … */
export function describeFileType(stats: Stats): string {
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isDirectory()) return 'a directory';
  if (stats.isSymbolicLink()) return 'a symlink';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  return stats.isFile() ? 'a regular file' : 'not a regular file';
}

/** The text of a regular file, or null when it is missing, unreadable or not a regular file. */
export async function readRegularText(file: string): Promise<string | null> {
  const opened = await openRegular(file, () => new Error(`${file} is not a regular file`)).catch(() => null);
  if (opened === null) return null;
  try {
    return await opened.handle.readFile('utf8');
  } catch {
    return null;
  } finally {
    await opened.handle.close().catch(() => undefined);
  }
}
