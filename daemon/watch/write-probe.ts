/**
 * Whether a module's write has finished, judged from the file itself rather than from a quiet
 * time: a linker, `cp` or `install` writes the section header table last (BFD writes the ELF
 * header after it), so a module is whole once its ELF headers and every section lie within the
 * file. Two probes a few milliseconds apart with the same stamp then say the writer is not still
 * at it. A file that is no ELF at all (nor a hole where the header will be) is "whole" too: the
 * engine reports it with its own code, as it does a symlink or a FIFO, which are never opened here.
 */
import { lstat } from 'node:fs/promises';
import { codeOf } from '../../shared/errors.js';
import { readElfLayout, withFile } from '../elf/elf-file.js';
import { keepsSubSecondTimes, sameStamp, stampOf, type FileStamp } from '../fs/file-stamp.js';

/** What one look at a module's file found. */
export interface WriteProbe {
  /** Its stamp, taken after it was read; null when it is gone. */
  readonly stamp: FileStamp | null;
  /** Whether the engine may read it now: a whole ELF, or no module being written at all. */
  readonly whole: boolean;
}

/** The reader's codes for a file cut short. */
const PARTIAL_CODES: ReadonlySet<string> = new Set(['BTFD_ERR_ELF_TRUNCATED']);

/** Empty, or zeros where the ELF magic goes: a file created and not yet (or sparsely) written. */
async function unwrittenHead(file: string): Promise<boolean> {
  return withFile(file, async (fh, size) => {
    if (size === 0) return true;
    const head = Buffer.alloc(4);
    const { bytesRead } = await fh.read(head, 0, 4, 0);
    return head.subarray(0, bytesRead).every((byte) => byte === 0);
  }).catch(() => false);
}

/** Look at a module's file once. */
export async function probeWrite(file: string): Promise<WriteProbe> {
  const before = await lstat(file, { bigint: true }).catch(() => null);
  if (before === null) return { stamp: null, whole: true };
  if (!before.isFile()) return { stamp: stampOf(before), whole: true };
  let whole = true;
  try {
    await readElfLayout(file);
  } catch (err) {
    const code = codeOf(err);
    whole = !PARTIAL_CODES.has(code) && !(code === 'BTFD_ERR_ELF_NOT_ELF' && (await unwrittenHead(file)));
  }
  const after = await lstat(file, { bigint: true }).catch(() => null);
  return { stamp: after ? stampOf(after) : null, whole };
}

/**
 * Whether two probes taken apart show a finished write: whole, and unchanged in between. Only on
 * a filesystem that keeps sub-second times: on one that keeps seconds, a write within the same
 * second leaves the same stamp, and the caller waits for the settle instead.
 */
export function writeFinished(first: WriteProbe, second: WriteProbe): boolean {
  return second.whole && first.stamp !== null && second.stamp !== null && sameStamp(first.stamp, second.stamp) && keepsSubSecondTimes(second.stamp);
}
