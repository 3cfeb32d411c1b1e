/**
 * Whether a module's write has finished, judged from the file itself rather than from a quiet
 * time: a linker, `cp` or `install` writes the section header table last (BFD writes the ELF
 * header after it), so a module is whole once its ELF headers and every section lie within the
 * file. A file that is no ELF at all (nor a hole where the header will be) is "whole" too: the
 * engine reports it with its own code, as it does a symlink or a FIFO, which are never opened here.
 */
import { lstat } from 'node:fs/promises';
import { codeOf } from '../../shared/errors.js';
import { readElfLayout, withFile } from '../elf/elf-file.js';

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

/** Whether the engine may read a module's file now: a whole ELF, or no module being written at all. */
export async function isWholeModule(file: string): Promise<boolean> {
  const info = await lstat(file).catch(() => null);
  if (info === null || !info.isFile()) return true;
  try {
    await readElfLayout(file);
    return true;
  } catch (err) {
    const code = codeOf(err);
    return !PARTIAL_CODES.has(code) && !(code === 'BTFD_ERR_ELF_NOT_ELF' && (await unwrittenHead(file)));
  }
}
