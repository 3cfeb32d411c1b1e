/**
 * Installing output sections into a module, so that no reader and no crash ever sees a part of
 * the write. Two ways, with the same sections and headers as a result:
 *
 *  - In place (the usual way): the new and replaced sections and a new section header table are
 *    appended past the end of the file and made durable, then the 64-byte ELF header is rewritten
 *    to point at the new table and made durable. Until that header write the file is the old
 *    module plus bytes no header points at; after it, the new module. No byte of the old module
 *    is overwritten but the header, so a reader that read the old header reads the old module
 *    whole. The cost is the new bytes (a few KB for a module's BTF), not the whole module.
 *  - Rewritten: when the bytes no header points at would grow past a quarter of the file (64 KiB
 *    at least), when the file has other hard links (an in-place write would change those too), or
 *    when it cannot be opened for writing: the file is written afresh to a temp file in the same
 *    directory and renamed over the original (fs/atomic-file.ts), unchanged sections first in
 *    their original file order, changed ones after them. This also compacts the file.
 *
 * Either way every existing section keeps its index and header (sh_offset aside, and sh_size of
 * a replaced section or a grown `.shstrtab`), new sections go at the end of the table, and the
 * file's mtime is set just below the kernel's stamp (markWritten) so the stat cache can trust it.
 */
import type { Stats } from 'node:fs';
import { stat, type FileHandle } from 'node:fs/promises';
import { BtfdError } from '../../shared/errors.js';
import { writeFileAtomic } from '../fs/atomic-file.js';
import { markWritten } from '../fs/file-stamp.js';
import { describeFileType, openRegular } from '../fs/open-regular.js';
import {
  alignUp, CHUNK_BYTES, EHDR_SIZE, errorText, ET_REL, findUnique, malformed, readHeaders, readSectionBytes,
  realpathOrThrow, SHDR_SIZE, SHN_LORESERVE, SHT_NOBITS, SHT_PROGBITS, streamRange, withFile, writeAll, type Headers,
} from './elf-file.js';

/** Alignment padding beyond this in a rewritten file would be absurd for a module. */
const MAX_INSTALL_ALIGN = 1 << 20;
/** Padding between sections copied along with them rather than splitting a copy. */
const MAX_COPIED_GAP_BYTES = 4096;
/** Bytes no header points at that an in-place install may leave, at least; else it compacts. */
const MIN_DEAD_BYTES_ALLOWED = 64 * 1024;
/** …and as a share of the bytes headers point at. */
const DEAD_BYTES_SHARE_ALLOWED = 0.25;

/**
 * Replace or add sections (new ones: SHT_PROGBITS, flags 0, addralign 1, as pahole adds `.BTF`
 * to a module) and write the file durably, in place where it can. Existing sections keep their
 * index, header and bytes. Returns false, without touching the file, when every named section
 * already holds exactly the given bytes. `resolved`: `file` is a real path already.
 */
export async function installSections(
  file: string, sections: ReadonlyMap<string, Buffer>, options: { readonly resolved?: boolean } = {},
): Promise<boolean> {
  for (const name of sections.keys()) checkNewName(name);
  if (sections.size === 0) return false;
  // The executor passes the path containment resolved and found no symlink: resolving it again
  // would cost a readlink per path component.
  const real = options.resolved === true ? file : await realpathOrThrow(file);
  /** Install through an open file; in place only where it may be written and has no other name. */
  const install = async (fh: FileHandle, st: Stats, inPlace: boolean): Promise<boolean> => {
    const hdr = await readHeaders(fh, real, st.size);
    const changes = await planChanges(fh, real, hdr, sections);
    if (changes === undefined) return false;
    const appended = inPlace && st.nlink === 1 ? layoutAppended(real, hdr, changes, st.size) : undefined;
    if (appended === undefined) await rewrite(fh, real, st, hdr, changes);
    else await writeInPlace(fh, real, st, hdr, appended);
    return true;
  };
  const writable = await openForWriting(real);
  if (writable === undefined) return withFile(real, (fh, _size, st) => install(fh, st, false));
  try {
    return await install(writable.handle, writable.stats, true);
  } catch (err) {
    if (err instanceof BtfdError) throw err;
    throw new BtfdError('BTFD_ERR_ELF_WRITE_FAILED', `${real}: ${errorText(err)}`, { cause: err });
  } finally {
    await writable.handle.close().catch(() => undefined);
  }
}

/**
 * The file opened for reading and writing, or undefined when it cannot be (mode 0444, a
 * read-only mount, …; or missing: the reader's open then says so with its code).
 */
async function openForWriting(file: string): Promise<{ handle: FileHandle; stats: Stats } | undefined> {
  try {
    return await openRegular(file, (found) => new BtfdError('BTFD_ERR_FILE_NOT_REGULAR', `${file} is ${describeFileType(found)}, not a regular file`), 'read-write');
  } catch (err) {
    if (err instanceof BtfdError) throw err;
    return undefined;
  }
}

/** What an install changes: sections whose bytes change, by index, and sections to add. */
interface Changes {
  readonly replaced: ReadonlyMap<number, Buffer>;
  readonly added: readonly { readonly data: Buffer; readonly nameOffset: number }[];
}

interface Placement {
  readonly index: number;
  /** New bytes, or undefined to copy the original contents. */
  readonly data: Buffer | undefined;
  readonly newOffset: number;
}

/** Where everything goes: the new section header table and where each section's bytes land. */
interface InstallPlan {
  /** New section headers for every section, existing ones first, in index order. */
  readonly shdrs: Buffer;
  readonly placements: readonly Placement[];
  readonly shoff: number;
  readonly shnum: number;
  /** Whether e_shnum is 0 and the count lives in section 0's sh_size. */
  readonly extended: boolean;
}

function checkNewName(name: string): void {
  if (name.length === 0 || name.includes('\0') || !/^[\x01-\xff]+$/.test(name)) {
    throw new BtfdError('BTFD_ERR_INTERNAL', `installSections: invalid section name ${JSON.stringify(name)}`);
  }
}

/** What the wanted sections change in this file, or undefined when it already holds them. */
async function planChanges(
  fh: FileHandle, file: string, hdr: Headers, wanted: ReadonlyMap<string, Buffer>,
): Promise<Changes | undefined> {
  const { layout } = hdr;
  if (layout.type !== ET_REL) throw new BtfdError('BTFD_ERR_ELF_UNSUPPORTED', `${file}: not a relocatable object (e_type ${layout.type}); btfd only rewrites kernel modules`);
  if (layout.phnum !== 0) throw new BtfdError('BTFD_ERR_ELF_UNSUPPORTED', `${file}: has program headers; btfd only rewrites kernel modules`);
  const strSec = layout.sections[layout.shstrndx];
  if (strSec === undefined) throw malformed(file, 'no section-name table');

  const replaced = new Map<number, Buffer>();
  const added: { name: string; data: Buffer }[] = [];
  for (const [name, data] of wanted) {
    if (name === strSec.name) throw new BtfdError('BTFD_ERR_INTERNAL', `installSections: refusing to replace the section-name table ${name}`);
    const sec = findUnique(layout, name);
    if (sec === undefined) {
      added.push({ name, data });
    } else {
      if (sec.type !== SHT_PROGBITS) throw malformed(file, `section ${name} has type ${sec.type}, expected SHT_PROGBITS`);
      // A section that already holds these bytes stays where it is.
      if (sec.size !== data.length || !(await readSectionBytes(fh, sec, file)).equals(data)) replaced.set(sec.index, data);
    }
  }
  if (replaced.size === 0 && added.length === 0) return undefined;

  // Names of new sections: reuse an existing "name\0" (also as a suffix), else append.
  let shstrtab = hdr.shstrtab;
  const withNames = added.map(({ name, data }) => {
    const needle = Buffer.from(`${name}\0`, 'latin1');
    let at = shstrtab.indexOf(needle);
    if (at < 0) {
      at = shstrtab.length;
      shstrtab = Buffer.concat([shstrtab, needle]);
    }
    return { data, nameOffset: at };
  });
  if (shstrtab !== hdr.shstrtab) replaced.set(layout.shstrndx, shstrtab);
  return { replaced, added: withNames };
}

function alignOf(file: string, addralign: number): number {
  if (addralign > MAX_INSTALL_ALIGN) throw malformed(file, `sh_addralign ${addralign} is too large to lay the file out`);
  return Math.max(addralign, 1);
}

/**
 * The changed and added sections laid out from `cursor` on, then the new section header table:
 * the part of a layout both ways share. `kept` are the placements of unchanged sections.
 */
function finishLayout(file: string, hdr: Headers, changes: Changes, kept: readonly Placement[], from: number): InstallPlan {
  const { layout } = hdr;
  const shnum = layout.shnum + changes.added.length;
  const shdrs = Buffer.alloc(shnum * SHDR_SIZE);
  hdr.shdrs.copy(shdrs, 0);
  const placements = [...kept];
  for (const p of kept) shdrs.writeBigUInt64LE(BigInt(p.newOffset), p.index * SHDR_SIZE + 24);
  let cursor = from;
  for (const [index, data] of [...changes.replaced].sort((a, b) => a[0] - b[0])) {
    const s = layout.sections[index];
    if (s === undefined) continue;
    cursor = alignUp(cursor, alignOf(file, s.addralign));
    shdrs.writeBigUInt64LE(BigInt(cursor), index * SHDR_SIZE + 24);
    shdrs.writeBigUInt64LE(BigInt(data.length), index * SHDR_SIZE + 32);
    placements.push({ index, data, newOffset: cursor });
    cursor += data.length;
  }
  changes.added.forEach(({ data, nameOffset }, i) => {
    const index = layout.shnum + i;
    const at = index * SHDR_SIZE;
    shdrs.writeUInt32LE(nameOffset, at);
    shdrs.writeUInt32LE(SHT_PROGBITS, at + 4);
    shdrs.writeBigUInt64LE(BigInt(cursor), at + 24);
    shdrs.writeBigUInt64LE(BigInt(data.length), at + 32);
    shdrs.writeBigUInt64LE(1n, at + 48);
    placements.push({ index, data, newOffset: cursor });
    cursor += data.length;
  });
  // Keep extended numbering when the file used it, and switch to it when the count needs it.
  const extended = hdr.ehdr.readUInt16LE(60) === 0 || shnum >= SHN_LORESERVE;
  if (extended) shdrs.writeBigUInt64LE(BigInt(shnum), 32);
  return { shdrs, placements, shoff: alignUp(cursor, 8), shnum, extended };
}

/** A compact layout: unchanged sections first, in their original file order, changed ones after. */
function layoutRewritten(file: string, hdr: Headers, changes: Changes): InstallPlan {
  const kept: Placement[] = [];
  const moved: { index: number; newOffset: number }[] = [];
  let cursor = EHDR_SIZE;
  // Contentless sections just get a sane offset.
  const unchanged = hdr.layout.sections
    .filter((s) => s.index !== 0 && !changes.replaced.has(s.index))
    .sort((a, b) => a.offset - b.offset || a.index - b.index);
  for (const s of unchanged) {
    cursor = alignUp(cursor, alignOf(file, s.addralign));
    if (s.type !== SHT_NOBITS && s.size > 0) {
      kept.push({ index: s.index, data: undefined, newOffset: cursor });
      cursor += s.size;
    } else {
      moved.push({ index: s.index, newOffset: cursor });
    }
  }
  const plan = finishLayout(file, hdr, changes, kept, cursor);
  for (const m of moved) plan.shdrs.writeBigUInt64LE(BigInt(m.newOffset), m.index * SHDR_SIZE + 24);
  return plan;
}

/**
 * The in-place layout: unchanged sections stay where they are, changed ones and the new table go
 * past the end of the file. Undefined when that would leave too many bytes no header points at.
 */
function layoutAppended(file: string, hdr: Headers, changes: Changes, fileSize: number): InstallPlan | undefined {
  const plan = finishLayout(file, hdr, changes, [], alignUp(fileSize, 8));
  const newSize = plan.shoff + plan.shnum * SHDR_SIZE;
  const sizeOf = (index: number): number => {
    const s = hdr.layout.sections[index];
    return s === undefined || s.type === SHT_NOBITS ? 0 : s.size;
  };
  let live = EHDR_SIZE + plan.shnum * SHDR_SIZE;
  // Section 0 has no contents (under extended numbering its sh_size is the section count).
  for (const s of hdr.layout.sections) if (s.index !== 0 && !changes.replaced.has(s.index)) live += sizeOf(s.index);
  for (const p of plan.placements) live += p.data?.length ?? 0;
  const dead = newSize - live;
  return dead <= Math.max(MIN_DEAD_BYTES_ALLOWED, live * DEAD_BYTES_SHARE_ALLOWED) ? plan : undefined;
}

/** The ELF header for a plan: the original with the new table's offset and count. */
function newElfHeader(hdr: Headers, plan: InstallPlan): Buffer {
  const ehdr = Buffer.from(hdr.ehdr);
  ehdr.writeBigUInt64LE(BigInt(plan.shoff), 40);
  ehdr.writeUInt16LE(plan.extended ? 0 : plan.shnum, 60);
  return ehdr;
}

/**
 * Append the plan's sections and table (durably), then point the ELF header at them (durably).
 * A failure before the header write leaves the old module, trimmed back to its old size.
 */
async function writeInPlace(fh: FileHandle, file: string, before: Stats, hdr: Headers, plan: InstallPlan): Promise<void> {
  const tailStart = alignUp(before.size, 8);
  const tail = Buffer.alloc(plan.shoff + plan.shdrs.length - tailStart);
  for (const p of plan.placements) p.data?.copy(tail, p.newOffset - tailStart);
  plan.shdrs.copy(tail, plan.shoff - tailStart);
  try {
    await writeAll(fh, tail, tailStart);
    await fh.datasync();
    await checkStillTheFile(fh, file, before, tailStart + tail.length);
  } catch (err) {
    // Only bytes past the old end were written: trimming them leaves the file as it was.
    const size = (await fh.stat().catch(() => null))?.size ?? before.size;
    if (size > before.size && size <= tailStart + tail.length) await fh.truncate(before.size).catch(() => undefined);
    throw wrapWriteError(file, err);
  }
  // The one overwrite: the header, in one write. From here on the file is the new module.
  await writeAll(fh, newElfHeader(hdr, plan), 0);
  await markWritten(fh);
  await fh.datasync();
}

/** Throws unless the path still names the open file, at the size this install made it. */
async function checkStillTheFile(fh: FileHandle, file: string, before: Stats, size: number): Promise<void> {
  const [mine, named] = await Promise.all([fh.stat(), stat(file).catch(() => null)]);
  if (named === null || named.ino !== before.ino || named.dev !== before.dev || mine.size !== size) {
    throw new BtfdError('BTFD_ERR_ELF_WRITE_FAILED', `${file} changed while its sections were being installed`);
  }
}

function wrapWriteError(file: string, err: unknown): BtfdError {
  if (err instanceof BtfdError) return err;
  return new BtfdError('BTFD_ERR_ELF_WRITE_FAILED', `${file}: ${errorText(err)}`, { cause: err });
}

/** Write the file afresh (compacted) to a temp file and rename it over the original. */
async function rewrite(src: FileHandle, file: string, before: Stats, hdr: Headers, changes: Changes): Promise<void> {
  const plan = layoutRewritten(file, hdr, changes);
  await writeAtomically(file, before, async (dst) => {
    await writeLayout(src, dst, file, hdr, plan);
    await markWritten(dst);
  });
}

async function writeLayout(src: FileHandle, dst: FileHandle, file: string, hdr: Headers, plan: InstallPlan): Promise<void> {
  await writeAll(dst, newElfHeader(hdr, plan), 0);
  const scratch = Buffer.alloc(CHUNK_BYTES);
  const copy = async (from: number, size: number, to: number): Promise<void> => {
    let out = to;
    await streamRange(src, file, from, size, scratch, async (chunk) => {
      await writeAll(dst, chunk, out);
      out += chunk.length;
    });
  };
  // Unchanged sections that keep their distance from each other are copied as one run (with the
  // padding between them), so a module with thousands of small sections costs a few large copies.
  // Old bytes of replaced sections are never carried along as padding.
  const stale = plan.placements.flatMap((p) => {
    const s = p.data === undefined ? undefined : hdr.layout.sections[p.index];
    return s === undefined || s.type === SHT_NOBITS ? [] : [{ start: s.offset, end: s.offset + s.size }];
  });
  const gapIsClean = (start: number, end: number): boolean => stale.every((r) => r.end <= start || r.start >= end);
  let run: { from: number; to: number; size: number } | undefined;
  for (const p of plan.placements) {
    if (p.data !== undefined) {
      await writeAll(dst, p.data, p.newOffset);
      continue;
    }
    const s = hdr.layout.sections[p.index];
    if (s === undefined) continue;
    const gap = run === undefined ? -1 : s.offset - (run.from + run.size);
    if (
      run !== undefined && gap >= 0 && gap <= MAX_COPIED_GAP_BYTES && p.newOffset - s.offset === run.to - run.from
      && gapIsClean(run.from + run.size, s.offset)
    ) {
      run.size += gap + s.size;
      continue;
    }
    if (run !== undefined) await copy(run.from, run.size, run.to);
    run = { from: s.offset, to: p.newOffset, size: s.size };
  }
  if (run !== undefined) await copy(run.from, run.size, run.to);
  // Other gaps left by alignment are holes, which read as zeros.
  await writeAll(dst, plan.shdrs, plan.shoff);
}

/**
 * Write the new layout through the atomic writer, as the file's owner and mode had it, and only
 * if the file is still the one that was read (a concurrent rewrite wins; ours is dropped).
 */
async function writeAtomically(file: string, before: Stats, write: (dst: FileHandle) => Promise<void>): Promise<void> {
  try {
    await writeFileAtomic(file, write, {
      mode: before.mode & 0o7777,
      owner: { uid: before.uid, gid: before.gid },
      beforeRename: async () => {
        const now = await stat(file);
        if (now.ino !== before.ino || now.dev !== before.dev || now.size !== before.size || now.mtimeMs !== before.mtimeMs) {
          throw new BtfdError('BTFD_ERR_ELF_WRITE_FAILED', `${file} changed while its sections were being installed`);
        }
      },
    });
  } catch (err) {
    if (err instanceof BtfdError) throw err;
    throw new BtfdError('BTFD_ERR_ELF_WRITE_FAILED', `${file}: ${errorText(err)}`, { cause: err });
  }
}
