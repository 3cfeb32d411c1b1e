/**
 * Reading 64-bit little-endian ELF files, for kernel modules and vmlinux: the validated header,
 * section header table and section names, and section contents, without loading whole files.
 *
 * Only headers, the section header table and the section-name string table are read whole (each
 * bounded by the file size and a sanity cap); section contents are read by section or streamed in
 * fixed-size chunks, so a 500 MB vmlinux costs a 1 MiB buffer. Every value read from the file is
 * validated before it is used as a size or an offset: a hostile or truncated file gives a
 * BtfdError (BTFD_ERR_ELF_*), never a crash or a huge allocation.
 */
import { promises as fsp, type Stats } from 'node:fs';
import { readSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { BtfdError } from '../../shared/errors.js';
import { describeFileType, openRegular } from '../fs/open-regular.js';

/** One section header, validated. Offsets and sizes fit in a JS number. */
export interface ElfSection {
  readonly index: number;
  /** Name from the section-name table, decoded as latin1 (byte-exact for any name). */
  readonly name: string;
  /** sh_name: offset of the name in the section-name table. */
  readonly nameOffset: number;
  readonly type: number;
  readonly flags: bigint;
  readonly addr: bigint;
  readonly offset: number;
  readonly size: number;
  readonly link: number;
  readonly info: number;
  readonly addralign: number;
  readonly entsize: number;
}

/** The validated headers of a 64-bit little-endian ELF file. */
export interface ElfLayout {
  readonly path: string;
  readonly fileSize: number;
  /** e_ident[EI_OSABI]. */
  readonly osabi: number;
  readonly type: number;
  readonly machine: number;
  readonly flags: number;
  readonly entry: bigint;
  readonly phoff: number;
  readonly phnum: number;
  readonly shoff: number;
  /** The real section count (from section 0's sh_size when e_shnum is 0). */
  readonly shnum: number;
  /** The real index of the section-name table (from section 0's sh_link when SHN_XINDEX). */
  readonly shstrndx: number;
  readonly sections: readonly ElfSection[];
}

/** ELF constants used here (from the System V gABI). */
export const ET_REL = 1;
export const SHT_NULL = 0;
export const SHT_PROGBITS = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_RELA = 4;
export const SHT_NOBITS = 8;
export const SHT_REL = 9;
export const SHT_DYNSYM = 11;
export const SHT_GROUP = 17;
export const SHT_SYMTAB_SHNDX = 18;
export const SHF_INFO_LINK = 0x40n;
export const SHN_UNDEF = 0;
export const SHN_LORESERVE = 0xff00;
export const SHN_XINDEX = 0xffff;
/** sh_flags bit of a compressed section. */
export const SHF_COMPRESSED = 0x800n;

export const EHDR_SIZE = 64;
export const SHDR_SIZE = 64;
const PHDR_SIZE = 56;
export const SYM_SIZE = 24;
/** More sections than this is not a real object file; refusing bounds the header table read. */
const MAX_SECTIONS = 1 << 20;
/** Same for the section-name table, which is read whole. */
const MAX_SHSTRTAB_BYTES = 64 << 20;
/** Same for the program header table. */
const MAX_PHNUM = 1 << 16;
/** Alignment padding beyond this in a rewritten file would be absurd for a module. */
export const CHUNK_BYTES = 1 << 20;

/** Read the ELF header, section header table and section names of a file. */
export async function readElfLayout(file: string): Promise<ElfLayout> {
  return withFile(file, async (fh, size) => (await readHeaders(fh, file, size)).layout);
}

/**
 * Read the contents of the named sections that exist. A name that occurs on several sections is
 * refused (BTFD_ERR_ELF_MALFORMED); an SHT_NOBITS section reads as an empty buffer.
 */
export async function readSections(file: string, names: readonly string[]): Promise<Map<string, Buffer>> {
  return withFile(file, async (fh, size) => {
    const { layout } = await readHeaders(fh, file, size);
    const out = new Map<string, Buffer>();
    for (const name of names) {
      const sec = findUnique(layout, name);
      if (sec !== undefined) out.set(name, await readSectionBytes(fh, sec, file));
    }
    return out;
  });
}

/** The raw headers of a file, with its validated layout. */
export interface Headers {
  readonly layout: ElfLayout;
  /** The raw 64-byte ELF header. */
  readonly ehdr: Buffer;
  /** The raw program header table (empty when e_phnum is 0). */
  readonly phdrs: Buffer;
  /** The raw section header table. */
  readonly shdrs: Buffer;
  readonly shstrtab: Buffer;
}

/** Read and validate the headers of an open file. */
export async function readHeaders(fh: PositionalReader, file: string, fileSize: number): Promise<Headers> {
  const head = Buffer.alloc(EHDR_SIZE);
  const got = await readAt(fh, head, 0, Math.min(EHDR_SIZE, fileSize), file);
  const magic = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
  if (got === 0) throw new BtfdError('BTFD_ERR_ELF_NOT_ELF', `${file}: empty file, not an ELF file`);
  if (head.subarray(0, Math.min(got, 4)).compare(magic.subarray(0, Math.min(got, 4))) !== 0) {
    throw new BtfdError('BTFD_ERR_ELF_NOT_ELF', `${file}: no ELF magic`);
  }
  if (got < 16) throw truncated(file, `${fileSize} bytes, shorter than the ELF identification`);
  const cls = head[4];
  const data = head[5];
  if (cls === 1) throw new BtfdError('BTFD_ERR_ELF_UNSUPPORTED', `${file}: 32-bit ELF (ELFCLASS32)`);
  if (cls !== 2) throw malformed(file, `invalid EI_CLASS ${String(cls)}`);
  if (data === 2) throw new BtfdError('BTFD_ERR_ELF_UNSUPPORTED', `${file}: big-endian ELF (ELFDATA2MSB)`);
  if (data !== 1) throw malformed(file, `invalid EI_DATA ${String(data)}`);
  if (head[6] !== 1) throw malformed(file, `invalid EI_VERSION ${String(head[6])}`);
  if (got < EHDR_SIZE) throw truncated(file, `${fileSize} bytes, shorter than the ELF header`);

  const type = head.readUInt16LE(16);
  const machine = head.readUInt16LE(18);
  const entry = head.readBigUInt64LE(24);
  const phoffBig = head.readBigUInt64LE(32);
  const shoffBig = head.readBigUInt64LE(40);
  const flags = head.readUInt32LE(48);
  const ehsize = head.readUInt16LE(52);
  const phentsize = head.readUInt16LE(54);
  const phnum = head.readUInt16LE(56);
  const shentsize = head.readUInt16LE(58);
  const eShnum = head.readUInt16LE(60);
  const eShstrndx = head.readUInt16LE(62);
  if (ehsize !== EHDR_SIZE) throw malformed(file, `e_ehsize ${ehsize}, expected ${EHDR_SIZE}`);

  let phoff = 0;
  let phdrs = Buffer.alloc(0);
  if (phnum > 0) {
    if (phentsize !== PHDR_SIZE) throw malformed(file, `e_phentsize ${phentsize}, expected ${PHDR_SIZE}`);
    if (phnum > MAX_PHNUM) throw malformed(file, `e_phnum ${phnum} is absurd`);
    phoff = checkedRange(file, phoffBig, BigInt(phnum * PHDR_SIZE), fileSize, 'program header table');
    if (phoff < EHDR_SIZE) throw malformed(file, `program header table at ${phoff} overlaps the ELF header`);
    phdrs = Buffer.alloc(phnum * PHDR_SIZE);
    await readFully(fh, phdrs, phoff, file);
  }

  if (shoffBig === 0n) throw malformed(file, 'no section header table (e_shoff is 0)');
  if (shentsize !== SHDR_SIZE) throw malformed(file, `e_shentsize ${shentsize}, expected ${SHDR_SIZE}`);
  const shoff = checkedRange(file, shoffBig, BigInt(SHDR_SIZE), fileSize, 'section header table');
  if (shoff < EHDR_SIZE) throw malformed(file, `section header table at ${shoff} overlaps the ELF header`);
  const sec0 = Buffer.alloc(SHDR_SIZE);
  await readFully(fh, sec0, shoff, file);
  let shnum = eShnum;
  if (shnum === 0) {
    // Extended numbering: the real count is in section 0's sh_size.
    const real = sec0.readBigUInt64LE(32);
    if (real === 0n) throw malformed(file, 'e_shnum is 0 and section 0 gives no count');
    if (real > BigInt(MAX_SECTIONS)) throw malformed(file, `section count ${real} is absurd`);
    shnum = Number(real);
  }
  if (shnum > MAX_SECTIONS) throw malformed(file, `section count ${shnum} is absurd`);
  checkedRange(file, shoffBig, BigInt(shnum * SHDR_SIZE), fileSize, 'section header table');
  let shstrndx = eShstrndx;
  if (shstrndx === SHN_XINDEX) shstrndx = sec0.readUInt32LE(40);
  else if (shstrndx >= SHN_LORESERVE) throw malformed(file, `e_shstrndx ${shstrndx} is a reserved index`);
  if (shstrndx === SHN_UNDEF) throw malformed(file, 'no section-name table (e_shstrndx is 0)');
  if (shstrndx >= shnum) throw malformed(file, `e_shstrndx ${shstrndx} out of range (${shnum} sections)`);

  const shdrs = Buffer.alloc(shnum * SHDR_SIZE);
  await readFully(fh, shdrs, shoff, file);

  const raw: Omit<ElfSection, 'name'>[] = [];
  for (let i = 0; i < shnum; i++) raw.push(parseShdr(file, shdrs, i, fileSize));
  const strSec = raw[shstrndx];
  if (strSec === undefined || strSec.type !== SHT_STRTAB) {
    throw malformed(file, `section ${shstrndx} named by e_shstrndx is not a string table`);
  }
  if (strSec.size > MAX_SHSTRTAB_BYTES) throw malformed(file, `section-name table of ${strSec.size} bytes is absurd`);
  const shstrtab = Buffer.alloc(strSec.size);
  await readFully(fh, shstrtab, strSec.offset, file);

  if (shstrtab.length === 0) throw malformed(file, 'the section-name table is empty');
  const sections: ElfSection[] = raw.map((s) => {
    if (s.nameOffset >= shstrtab.length) {
      throw malformed(file, `section ${s.index}: name offset ${s.nameOffset} outside the section-name table`);
    }
    const end = shstrtab.indexOf(0, s.nameOffset);
    if (end < 0) throw malformed(file, `section ${s.index}: name is not NUL-terminated`);
    return { ...s, name: shstrtab.toString('latin1', s.nameOffset, end) };
  });
  checkOverlaps(file, sections, shoff, shnum, phoff, phnum);

  const layout: ElfLayout = {
    path: file, fileSize, osabi: head[7] ?? 0, type, machine, flags, entry, phoff, phnum, shoff, shnum,
    shstrndx, sections,
  };
  return { layout, ehdr: head, phdrs, shdrs, shstrtab };
}

function parseShdr(file: string, shdrs: Buffer, index: number, fileSize: number): Omit<ElfSection, 'name'> {
  const at = index * SHDR_SIZE;
  const nameOffset = shdrs.readUInt32LE(at);
  const type = shdrs.readUInt32LE(at + 4);
  const flags = shdrs.readBigUInt64LE(at + 8);
  const addr = shdrs.readBigUInt64LE(at + 16);
  const offsetBig = shdrs.readBigUInt64LE(at + 24);
  const sizeBig = shdrs.readBigUInt64LE(at + 32);
  const link = shdrs.readUInt32LE(at + 40);
  const info = shdrs.readUInt32LE(at + 44);
  const alignBig = shdrs.readBigUInt64LE(at + 48);
  const entsizeBig = shdrs.readBigUInt64LE(at + 56);
  const what = `section ${index}`;
  if (alignBig > 1n && (alignBig & (alignBig - 1n)) !== 0n) throw malformed(file, `${what}: sh_addralign ${alignBig} is not a power of two`);
  if (alignBig > 1n << 32n) throw malformed(file, `${what}: sh_addralign ${alignBig} is absurd`);
  if (entsizeBig > BigInt(Number.MAX_SAFE_INTEGER)) throw malformed(file, `${what}: sh_entsize ${entsizeBig} is absurd`);
  let offset: number;
  let size: number;
  if (type === SHT_NOBITS || type === SHT_NULL) {
    // No file contents: only require the numbers to be representable.
    if (offsetBig > BigInt(Number.MAX_SAFE_INTEGER) || sizeBig > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw malformed(file, `${what}: offset ${offsetBig} or size ${sizeBig} is absurd`);
    }
    offset = Number(offsetBig);
    size = Number(sizeBig);
  } else {
    offset = checkedRange(file, offsetBig, sizeBig, fileSize, what);
    size = Number(sizeBig);
  }
  return {
    index, nameOffset, type, flags, addr, offset, size, link, info,
    addralign: Number(alignBig), entsize: Number(entsizeBig),
  };
}

/**
 * Check that [offset, offset+size) is a sane range inside the file and return offset as a number:
 * arithmetic overflow or unrepresentable values are malformed, a range past EOF is truncation.
 */
function checkedRange(file: string, offset: bigint, size: bigint, fileSize: number, what: string): number {
  const end = offset + size;
  if (end > 0xffff_ffff_ffff_ffffn) throw malformed(file, `${what}: offset ${offset} + size ${size} overflows`);
  if (end > BigInt(fileSize)) throw truncated(file, `${what} ends at ${end}, past the end of the file (${fileSize} bytes)`);
  return Number(offset);
}

/** Sections with file contents must not overlap each other nor the ELF/program/section headers. */
function checkOverlaps(
  file: string, sections: readonly ElfSection[], shoff: number, shnum: number, phoff: number, phnum: number,
): void {
  const ranges: { start: number; end: number; what: string }[] = [
    { start: 0, end: EHDR_SIZE, what: 'the ELF header' },
    { start: shoff, end: shoff + shnum * SHDR_SIZE, what: 'the section header table' },
  ];
  if (phnum > 0) ranges.push({ start: phoff, end: phoff + phnum * PHDR_SIZE, what: 'the program header table' });
  for (const s of sections) {
    if (s.type === SHT_NOBITS || s.type === SHT_NULL || s.size === 0) continue;
    ranges.push({ start: s.offset, end: s.offset + s.size, what: `section ${s.index} (${s.name})` });
  }
  ranges.sort((a, b) => a.start - b.start || a.end - b.end);
  for (let i = 1; i < ranges.length; i++) {
    const prev = ranges[i - 1];
    const cur = ranges[i];
    if (prev !== undefined && cur !== undefined && cur.start < prev.end) {
      throw malformed(file, `${cur.what} overlaps ${prev.what}`);
    }
  }
}

export function findUnique(layout: ElfLayout, name: string): ElfSection | undefined {
  let found: ElfSection | undefined;
  for (const s of layout.sections) {
    if (s.index === 0 || s.name !== name) continue;
    if (found !== undefined) throw malformed(layout.path, `several sections are named ${name}`);
    found = s;
  }
  return found;
}

export async function readSectionBytes(fh: PositionalReader, sec: ElfSection, file: string): Promise<Buffer> {
  if (sec.type === SHT_NOBITS) return Buffer.alloc(0);
  const buf = Buffer.alloc(sec.size);
  await readFully(fh, buf, sec.offset, file);
  return buf;
}

// ---------------------------------------------------------------------------------------------
// I/O helpers

/** What the readers need of an open file: positional reads (a FileHandle is one). */
export interface PositionalReader {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
}

/**
 * Positional reads of an open file without libuv's threadpool, for a thread whose job is reading
 * (a worker hashing modules): a round trip through the pool per read cost as much as the hash.
 */
export function readingSynchronously(fh: FileHandle): PositionalReader {
  return { read: async (buffer, offset, length, position) => ({ bytesRead: readSync(fh.fd, buffer, offset, length, position) }) };
}

export async function realpathOrThrow(file: string): Promise<string> {
  try {
    return await fsp.realpath(file);
  } catch (err) {
    throw openError(file, err);
  }
}

/** Open a file read-only, run fn with its handle and size, always close it. */
export async function withFile<T>(file: string, fn: (fh: FileHandle, size: number, st: Stats) => Promise<T>): Promise<T> {
  let fh: FileHandle;
  let st: Stats;
  try {
    ({ handle: fh, stats: st } = await openRegular(file, (found) => new BtfdError('BTFD_ERR_FILE_NOT_REGULAR', `${file} is ${describeFileType(found)}, not a regular file`)));
  } catch (err) {
    if (err instanceof BtfdError) throw err;
    throw openError(file, err);
  }
  try {
    return await fn(fh, st.size, st);
  } catch (err) {
    if (err instanceof BtfdError) throw err;
    throw new BtfdError('BTFD_ERR_ELF_READ_FAILED', `${file}: ${errorText(err)}`, { cause: err });
  } finally {
    await fh.close().catch(() => undefined);
  }
}

function openError(file: string, err: unknown): BtfdError {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new BtfdError('BTFD_ERR_MODULE_NOT_FOUND', `${file}: no such file`, { cause: err });
  if (code === 'EISDIR') return new BtfdError('BTFD_ERR_ELF_NOT_ELF', `${file}: is a directory`, { cause: err });
  return new BtfdError('BTFD_ERR_ELF_READ_FAILED', `${file}: ${errorText(err)}`, { cause: err });
}

/** Read up to length bytes at position; returns how many were read (less only at EOF). */
async function readAt(fh: PositionalReader, buf: Buffer, position: number, length: number, file: string): Promise<number> {
  let done = 0;
  while (done < length) {
    let n: number;
    try {
      ({ bytesRead: n } = await fh.read(buf, done, length - done, position + done));
    } catch (err) {
      throw new BtfdError('BTFD_ERR_ELF_READ_FAILED', `${file}: ${errorText(err)}`, { cause: err });
    }
    if (n === 0) break;
    done += n;
  }
  return done;
}

export async function readFully(fh: PositionalReader, buf: Buffer, position: number, file: string): Promise<void> {
  const n = await readAt(fh, buf, position, buf.length, file);
  if (n < buf.length) throw truncated(file, `file ended at ${position + n} while reading ${buf.length} bytes at ${position}`);
}

/** Read [offset, offset+size) in chunks of at most scratch.length bytes. */
export async function streamRange(
  fh: PositionalReader, file: string, offset: number, size: number, scratch: Buffer,
  onChunk: (chunk: Buffer) => void | Promise<void>,
): Promise<void> {
  let done = 0;
  while (done < size) {
    const want = Math.min(scratch.length, size - done);
    const chunk = scratch.subarray(0, want);
    await readFully(fh, chunk, offset + done, file);
    await onChunk(chunk);
    done += want;
  }
}

export async function writeAll(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    done += bytesWritten;
  }
}

export function alignUp(value: number, align: number): number {
  return Math.ceil(value / align) * align;
}

export function malformed(file: string, detail: string): BtfdError {
  return new BtfdError('BTFD_ERR_ELF_MALFORMED', `${file}: ${detail}`);
}

export function truncated(file: string, detail: string): BtfdError {
  return new BtfdError('BTFD_ERR_ELF_TRUNCATED', `${file}: ${detail}`);
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
