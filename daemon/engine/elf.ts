/**
 * In-process ELF handling for kernel modules: read the section table, digest a module's content
 * independently of its BTF output sections, and install output sections atomically.
 *
 * Scope: 64-bit little-endian ELF. Only headers, the section header table and the section-name
 * string table are read whole (each bounded by the file size and a sanity cap); section contents
 * are streamed in fixed-size chunks, so a 500 MB vmlinux or a 100 MB module costs a 1 MiB buffer.
 * Every value read from the file is validated before it is used as a size or an offset: a hostile
 * or truncated file gives a BtfdError (BTFD_ERR_ELF_*), never a crash or a huge allocation.
 *
 * Content digest (digestModule). The cache key needs "the module" without what the BTF step
 * writes: the `.BTF` and `.BTF.base` sections, and the contents of `.BTF_ids` (resolve_btfids
 * patches ids into it). `.BTF` and `.BTF.base` get added by `objcopy
 * --add-section` (which places them before `.symtab`), rewritten in place by pahole, appended by
 * installSections, or removed from the middle by `objcopy --remove-section`, which shifts the index
 * of every later section. So the digest is over a canonical encoding, not over file bytes:
 *  - a version tag, then the ELF header fields that describe the object (e_ident, e_type,
 *    e_machine, e_version, e_entry, e_flags, header sizes, e_phnum and the program header bytes),
 *    but not e_shoff/e_shnum/e_shstrndx/e_phoff, which are layout;
 *  - each kept section in index order, where "kept" means: not section 0, not the section-name
 *    table (its bytes change when a name is added; each section's name is hashed instead) and not
 *    an output section. For each: name, type, flags, addr, addralign, entsize, sh_link, sh_info, and
 *    contents (SHT_NOBITS: the size only). Never sh_offset or sh_name. `.BTF_ids` contributes its
 *    contents as they were before resolution (the caller's canonicalBtfIds; its size, header and
 *    symbols as they are), and a compressed section its sh_addralign as resolve_btfids leaves it.
 *  - Section indices that appear in the data are replaced by a reference that survives index
 *    shifts: SHN_UNDEF, "kept section number k" (rank among kept sections), "output section
 *    named X", "the section-name table", or the raw value (special indices such as SHN_ABS, or an
 *    out-of-range one). That applies to sh_link always, to sh_info for SHT_REL/SHT_RELA and
 *    SHF_INFO_LINK sections, to every symbol's st_shndx in SHT_SYMTAB/SHT_DYNSYM (SHN_XINDEX is
 *    resolved through SHT_SYMTAB_SHNDX, whose own entries are then not hashed: which symbols need
 *    SHN_XINDEX depends on index positions) and to the member entries of SHT_GROUP.
 *    Relocations refer to symbols, not sections, and output sections never add symbols, so every
 *    other section's bytes are hashed as they are.
 *  - Every variable-length item is length-prefixed and every record is tagged, so two different
 *    modules cannot encode to the same byte stream.
 *
 * installSections keeps every existing section's index and header (sh_offset aside, and sh_size
 * of a replaced section or a grown `.shstrtab`), appends new sections at the end of the table,
 * copies unchanged section contents in their original file order and writes changed ones after
 * them. The file is written to a temp file in the same directory and renamed over the original,
 * so readers see either the old or the new module, never a half-written one.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { promises as fsp, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { BtfdError } from '../../shared/errors.js';
import type { BtfIdsSource, BtfIdsSymbol } from '../btf/btf-ids.js';

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

const EHDR_SIZE = 64;
const SHDR_SIZE = 64;
const PHDR_SIZE = 56;
const SYM_SIZE = 24;
/** More sections than this is not a real object file; refusing bounds the header table read. */
const MAX_SECTIONS = 1 << 20;
/** Same for the section-name table, which is read whole. */
const MAX_SHSTRTAB_BYTES = 64 << 20;
/** Same for the program header table. */
const MAX_PHNUM = 1 << 16;
/** Alignment padding beyond this in a rewritten file would be absurd for a module. */
const MAX_INSTALL_ALIGN = 1 << 20;
const CHUNK_BYTES = 1 << 20;
/** Padding between sections copied along with them rather than splitting a copy. */
const MAX_COPIED_GAP_BYTES = 4096;
const DIGEST_VERSION = 'btfd-module-digest-v2';
/** The section resolve_btfids writes; its contents are digested in their pre-resolution form. */
const BTF_IDS_SECTION_NAME = '.BTF_ids';
const BTF_ID_SYMBOL_PREFIX = '__BTF_ID__';
/** sh_flags bit of a compressed section; resolve_btfids rewrites such sections' sh_addralign to 8. */
export const SHF_COMPRESSED = 0x800n;
export const COMPRESSED_SECTION_ALIGN = 8;

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

/** Result of digestModule. */
export interface ModuleDigest {
  /** sha256 (hex) of the module without its output sections; see the module comment. */
  readonly digest: string;
  /** The contents of the excluded (output) sections the module has now. */
  readonly outputs: Map<string, Buffer>;
  /** The `.BTF_ids` section and its symbols, when the module has both (its contents are an output too). */
  readonly btfIds: BtfIdsSource | undefined;
  /** `.BTF_ids` as canonicalBtfIds gave it (before resolution), when the module has one. */
  readonly btfIdsPristine: Buffer | undefined;
  readonly layout: ElfLayout;
}

/** What digestModule leaves out, and how it reads `.BTF_ids`. */
export interface DigestOptions {
  /** Sections left out entirely, in a fixed order (the digest depends on the list). */
  readonly excluded: readonly string[];
  /**
   * `.BTF_ids` contents as they were before resolve_btfids (see daemon/btf/btf-ids.ts): the digest
   * covers those, so resolving the section does not change it. Given the section and the current
   * contents of the excluded sections (the module's own `.BTF` names the ids).
   */
  readonly canonicalBtfIds: (source: BtfIdsSource, outputs: ReadonlyMap<string, Buffer>) => Buffer | Promise<Buffer>;
}

/**
 * Digest a module's content, independent of its output sections and of file layout, and return
 * the output sections it currently has.
 */
export async function digestModule(file: string, options: DigestOptions): Promise<ModuleDigest> {
  return withFile(file, async (fh, size) => {
    const hdr = await readHeaders(fh, file, size);
    const { layout, ehdr, phdrs } = hdr;
    const outputs = new Map<string, Buffer>();
    for (const name of options.excluded) {
      const sec = findUnique(layout, name);
      if (sec === undefined) continue;
      if (sec.type === SHT_NOBITS) throw malformed(file, `output section ${name} has no contents (SHT_NOBITS)`);
      outputs.set(name, await readSectionBytes(fh, sec, file));
    }
    const btfIds = await readBtfIdsFrom(fh, file, layout);
    const substituted = new Map<number, Buffer>();
    let btfIdsPristine: Buffer | undefined;
    if (btfIds !== undefined) {
      btfIdsPristine = await options.canonicalBtfIds(btfIds.source, outputs);
      if (btfIdsPristine.length !== btfIds.section.size) throw malformed(file, `canonical ${BTF_IDS_SECTION_NAME} changed size`);
      substituted.set(btfIds.section.index, btfIdsPristine);
    }
    const digest = await hashModule(fh, file, layout, ehdr, phdrs, options.excluded, substituted);
    return { digest, outputs, btfIds: btfIds?.source, btfIdsPristine, layout };
  });
}

/** The `.BTF_ids` section and its `__BTF_ID__` symbols (see {@link BtfIdsSource}), or undefined. */
export async function readBtfIdsSource(file: string): Promise<BtfIdsSource | undefined> {
  return withFile(file, async (fh, size) => {
    const { layout } = await readHeaders(fh, file, size);
    return (await readBtfIdsFrom(fh, file, layout))?.source;
  });
}

/**
 * Read `.BTF_ids` and the symbols resolve_btfids would patch: those of the symbol table whose raw
 * st_shndx is the section's index (it does not follow SHN_XINDEX) and whose name starts with
 * `__BTF_ID__`. Undefined when there is no `.BTF_ids` or no symbol table, as resolve_btfids does
 * nothing then.
 */
async function readBtfIdsFrom(fh: FileHandle, file: string, layout: ElfLayout): Promise<{ section: ElfSection; source: BtfIdsSource } | undefined> {
  const section = findUnique(layout, BTF_IDS_SECTION_NAME);
  if (section === undefined) return undefined;
  if (section.type === SHT_NOBITS) throw malformed(file, `${BTF_IDS_SECTION_NAME} has no contents (SHT_NOBITS)`);
  const symtabs = layout.sections.filter((s) => s.type === SHT_SYMTAB);
  if (symtabs.length === 0) return undefined;
  if (symtabs.length > 1) throw malformed(file, 'several symbol tables');
  const symtab = symtabs[0]!;
  if (symtab.entsize !== SYM_SIZE || symtab.size % SYM_SIZE !== 0) throw malformed(file, 'symbol table entries are not 24 bytes');
  const strtab = layout.sections[symtab.link];
  if (strtab === undefined || strtab.type !== SHT_STRTAB) throw malformed(file, 'the symbol table names no string table');
  const [bytes, symbols, strings] = [
    await readSectionBytes(fh, section, file),
    await readSectionBytes(fh, symtab, file),
    await readSectionBytes(fh, strtab, file),
  ];
  const prefix = Buffer.from(BTF_ID_SYMBOL_PREFIX, 'latin1');
  const found: BtfIdsSymbol[] = [];
  for (let at = 0; at < symbols.length; at += SYM_SIZE) {
    if (symbols.readUInt16LE(at + 6) !== section.index) continue;
    const nameOffset = symbols.readUInt32LE(at);
    if (nameOffset >= strings.length) throw malformed(file, `symbol ${at / SYM_SIZE}: name offset outside its string table`);
    if (strings.compare(prefix, 0, prefix.length, nameOffset, Math.min(strings.length, nameOffset + prefix.length)) !== 0) continue;
    const end = strings.indexOf(0, nameOffset);
    if (end < 0) throw malformed(file, `symbol ${at / SYM_SIZE}: name is not NUL-terminated`);
    const value = symbols.readBigUInt64LE(at + 8);
    const symSize = symbols.readBigUInt64LE(at + 16);
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || symSize > BigInt(Number.MAX_SAFE_INTEGER)) throw malformed(file, `symbol ${at / SYM_SIZE}: absurd value or size`);
    found.push({ name: strings.toString('latin1', nameOffset, end), value: Number(value), size: Number(symSize) });
  }
  return { section, source: { bytes, addr: Number(section.addr), symbols: found } };
}

/**
 * Replace or add sections (new ones: SHT_PROGBITS, flags 0, addralign 1, as pahole adds `.BTF`
 * to a module) and write the file atomically. Existing sections keep their index, header and
 * bytes. Returns false, without touching the file, when every named section already holds
 * exactly the given bytes.
 */
export async function installSections(file: string, sections: ReadonlyMap<string, Buffer>): Promise<boolean> {
  for (const name of sections.keys()) checkNewName(name);
  if (sections.size === 0) return false;
  const real = await realpathOrThrow(file);
  return withFile(real, async (src, size, st) => {
    const hdr = await readHeaders(src, real, size);
    const plan = await planInstall(src, real, hdr, sections);
    if (plan === undefined) return false;
    await writeAtomically(real, st, async (dst) => writeLayout(src, dst, real, hdr, plan));
    return true;
  });
}

// ---------------------------------------------------------------------------------------------
// Reading headers

interface Headers {
  readonly layout: ElfLayout;
  /** The raw 64-byte ELF header. */
  readonly ehdr: Buffer;
  /** The raw program header table (empty when e_phnum is 0). */
  readonly phdrs: Buffer;
  /** The raw section header table. */
  readonly shdrs: Buffer;
  readonly shstrtab: Buffer;
}

async function readHeaders(fh: FileHandle, file: string, fileSize: number): Promise<Headers> {
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

function findUnique(layout: ElfLayout, name: string): ElfSection | undefined {
  let found: ElfSection | undefined;
  for (const s of layout.sections) {
    if (s.index === 0 || s.name !== name) continue;
    if (found !== undefined) throw malformed(layout.path, `several sections are named ${name}`);
    found = s;
  }
  return found;
}

async function readSectionBytes(fh: FileHandle, sec: ElfSection, file: string): Promise<Buffer> {
  if (sec.type === SHT_NOBITS) return Buffer.alloc(0);
  const buf = Buffer.alloc(sec.size);
  await readFully(fh, buf, sec.offset, file);
  return buf;
}

// ---------------------------------------------------------------------------------------------
// Digest

const REF_UNDEF = 0;
const REF_KEPT = 1;
const REF_OUTPUT = 2;
const REF_SHSTRTAB = 3;
const REF_RAW = 4;

/**
 * Feeds a hash with tagged, fixed-width or length-prefixed little-endian items. Small items are
 * batched in a buffer: a module with tens of thousands of sections would otherwise cost millions
 * of tiny hash updates.
 */
class Encoder {
  private readonly hash: Hash = createHash('sha256');
  private readonly buf = Buffer.alloc(64 << 10);
  private used = 0;

  private room(n: number): void {
    if (this.used + n > this.buf.length) this.flush();
  }

  private flush(): void {
    if (this.used > 0) this.hash.update(this.buf.subarray(0, this.used));
    this.used = 0;
  }

  u8(v: number): void { this.room(1); this.used = this.buf.writeUInt8(v, this.used); }
  u16(v: number): void { this.room(2); this.used = this.buf.writeUInt16LE(v, this.used); }
  u32(v: number): void { this.room(4); this.used = this.buf.writeUInt32LE(v, this.used); }
  u64(v: bigint | number): void { this.room(8); this.used = this.buf.writeBigUInt64LE(BigInt(v), this.used); }

  /** Bytes as they are (the caller prefixes the length where needed). */
  raw(b: Buffer): void {
    if (b.length > 4096) {
      this.flush();
      this.hash.update(b);
      return;
    }
    this.room(b.length);
    this.used += b.copy(this.buf, this.used);
  }

  /** Length-prefixed bytes. */
  bytes(b: Buffer): void { this.u64(b.length); this.raw(b); }

  digest(): string {
    this.flush();
    return this.hash.digest('hex');
  }
}

/**
 * Reads file ranges through one window, so many small sections next to each other cost one read;
 * ranges bigger than the window are streamed in window-sized chunks.
 */
class WindowReader {
  private readonly win = Buffer.alloc(CHUNK_BYTES);
  private winStart = 0;
  private winEnd = 0;

  constructor(private readonly fh: FileHandle, private readonly file: string, private readonly fileSize: number) {}

  /** Call onChunk with consecutive pieces of [offset, offset+size), each a multiple of `unit` bytes. */
  async stream(offset: number, size: number, unit: number, onChunk: (chunk: Buffer) => void): Promise<void> {
    const max = Math.floor(this.win.length / unit) * unit;
    let done = 0;
    while (done < size) {
      const at = offset + done;
      const want = Math.min(max, size - done);
      if (at < this.winStart || at + want > this.winEnd) {
        const len = Math.min(this.win.length, this.fileSize - at);
        if (len < want) throw truncated(this.file, `file ended while reading ${want} bytes at ${at}`);
        await readFully(this.fh, this.win.subarray(0, len), at, this.file);
        this.winStart = at;
        this.winEnd = at + len;
      }
      onChunk(this.win.subarray(at - this.winStart, at - this.winStart + want));
      done += want;
    }
  }
}

/** Maps section indices to references that do not depend on where output sections sit. */
function makeRefMapper(layout: ElfLayout, outputNames: readonly string[]): (index: number) => [number, number] {
  const refs: [number, number][] = [];
  let rank = 0;
  for (const s of layout.sections) {
    const out = outputNames.indexOf(s.name);
    if (s.index === 0) refs.push([REF_UNDEF, 0]);
    else if (s.index === layout.shstrndx) refs.push([REF_SHSTRTAB, 0]);
    else if (out >= 0) refs.push([REF_OUTPUT, out]);
    else refs.push([REF_KEPT, rank++]);
  }
  return (index) => refs[index] ?? [REF_RAW, index];
}

async function hashModule(
  fh: FileHandle, file: string, layout: ElfLayout, ehdr: Buffer, phdrs: Buffer, outputNames: readonly string[],
  substituted: ReadonlyMap<number, Buffer>,
): Promise<string> {
  const enc = new Encoder();
  enc.bytes(Buffer.from(DIGEST_VERSION));
  enc.u8(0x48); // 'H'
  enc.bytes(ehdr.subarray(0, 16));
  enc.u16(layout.type);
  enc.u16(layout.machine);
  enc.u32(ehdr.readUInt32LE(20));
  enc.u64(layout.entry);
  enc.u32(layout.flags);
  enc.u16(layout.phnum);
  enc.bytes(phdrs);
  const ref = makeRefMapper(layout, outputNames);
  const putRef = (index: number): void => {
    const [tag, value] = ref(index);
    enc.u8(tag);
    enc.u32(value);
  };
  const reader = new WindowReader(fh, file, layout.fileSize);
  let kept = 0;
  for (const s of layout.sections) {
    const [tag] = ref(s.index);
    if (tag !== REF_KEPT) continue;
    kept++;
    enc.u8(0x53); // 'S'
    enc.bytes(Buffer.from(s.name, 'latin1'));
    enc.u32(s.type);
    enc.u64(s.flags);
    enc.u64(s.addr);
    // resolve_btfids sets a compressed section's sh_addralign to 8 (compressed_section_fix).
    enc.u64((s.flags & SHF_COMPRESSED) !== 0n ? COMPRESSED_SECTION_ALIGN : s.addralign);
    enc.u64(s.entsize);
    putRef(s.link);
    if (s.type === SHT_REL || s.type === SHT_RELA || (s.flags & SHF_INFO_LINK) !== 0n) {
      enc.u8(1);
      putRef(s.info);
    } else {
      enc.u8(0);
      enc.u32(s.info);
    }
    const replacement = substituted.get(s.index);
    if (replacement !== undefined) {
      enc.u8(5);
      enc.bytes(replacement);
    } else if (s.type === SHT_NOBITS) {
      enc.u8(0);
      enc.u64(s.size);
    } else if (s.type === SHT_SYMTAB || s.type === SHT_DYNSYM) {
      enc.u8(2);
      enc.u64(s.size);
      await hashSymbols(fh, reader, file, layout, s, enc, putRef);
    } else if (s.type === SHT_SYMTAB_SHNDX) {
      // Its entries are folded into its symbol table's encoding (resolved st_shndx); hashing them
      // here too would depend on which symbols needed SHN_XINDEX, i.e. on index positions.
      enc.u8(4);
      enc.u64(s.size);
    } else if (s.type === SHT_GROUP) {
      enc.u8(3);
      enc.u64(s.size);
      await hashGroup(reader, file, s, enc, putRef);
    } else {
      enc.u8(1);
      enc.u64(s.size);
      await reader.stream(s.offset, s.size, 1, (chunk) => enc.raw(chunk));
    }
  }
  enc.u8(0x45); // 'E'
  enc.u32(kept);
  return enc.digest();
}

/** Hash a symbol table with each st_shndx replaced by its reference. */
async function hashSymbols(
  fh: FileHandle, reader: WindowReader, file: string, layout: ElfLayout, sym: ElfSection, enc: Encoder,
  putRef: (index: number) => void,
): Promise<void> {
  if (sym.size % SYM_SIZE !== 0) throw malformed(file, `symbol table ${sym.name}: size ${sym.size} is not a multiple of ${SYM_SIZE}`);
  if (sym.entsize !== SYM_SIZE) throw malformed(file, `symbol table ${sym.name}: sh_entsize ${sym.entsize}, expected ${SYM_SIZE}`);
  let xindex: Buffer | undefined;
  const shndxSec = layout.sections.find((s) => s.type === SHT_SYMTAB_SHNDX && s.link === sym.index);
  if (shndxSec !== undefined) {
    if (shndxSec.size !== (sym.size / SYM_SIZE) * 4) throw malformed(file, `${shndxSec.name}: size does not match its symbol table`);
    xindex = await readSectionBytes(fh, shndxSec, file);
  }
  let symIndex = 0;
  await reader.stream(sym.offset, sym.size, SYM_SIZE, (buf) => {
    for (let at = 0; at + SYM_SIZE <= buf.length; at += SYM_SIZE, symIndex++) {
      enc.raw(buf.subarray(at, at + 6)); // st_name, st_info, st_other
      const shndx = buf.readUInt16LE(at + 6);
      if (shndx === SHN_XINDEX) {
        if (xindex === undefined) throw malformed(file, `symbol ${symIndex} uses SHN_XINDEX but there is no SHT_SYMTAB_SHNDX section`);
        putRef(xindex.readUInt32LE(symIndex * 4));
      } else if (shndx >= SHN_LORESERVE) {
        enc.u8(REF_RAW);
        enc.u32(shndx);
      } else {
        putRef(shndx);
      }
      enc.raw(buf.subarray(at + 8, at + SYM_SIZE)); // st_value, st_size
    }
  });
}

/** Hash an SHT_GROUP section: a flag word, then section indices. */
async function hashGroup(
  reader: WindowReader, file: string, sec: ElfSection, enc: Encoder, putRef: (index: number) => void,
): Promise<void> {
  if (sec.size % 4 !== 0) throw malformed(file, `${sec.name}: size ${sec.size} is not a multiple of 4`);
  let word = 0;
  await reader.stream(sec.offset, sec.size, 4, (buf) => {
    for (let at = 0; at + 4 <= buf.length; at += 4, word++) {
      const v = buf.readUInt32LE(at);
      if (word === 0) {
        enc.u8(REF_RAW);
        enc.u32(v);
      } else {
        putRef(v);
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Install

interface Placement {
  readonly index: number;
  /** New bytes, or undefined to copy the original contents. */
  readonly data: Buffer | undefined;
  readonly newOffset: number;
}

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

/** Decide the new layout, or undefined when the file already holds the requested bytes. */
async function planInstall(
  fh: FileHandle, file: string, hdr: Headers, wanted: ReadonlyMap<string, Buffer>,
): Promise<InstallPlan | undefined> {
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
  const newNameOffsets: number[] = [];
  for (const { name } of added) {
    const needle = Buffer.from(`${name}\0`, 'latin1');
    let at = shstrtab.indexOf(needle);
    if (at < 0) {
      at = shstrtab.length;
      shstrtab = Buffer.concat([shstrtab, needle]);
    }
    newNameOffsets.push(at);
  }
  if (shstrtab !== hdr.shstrtab) replaced.set(layout.shstrndx, shstrtab);

  const alignOf = (a: number): number => {
    if (a > MAX_INSTALL_ALIGN) throw malformed(file, `sh_addralign ${a} is too large to lay the file out`);
    return Math.max(a, 1);
  };
  const shnum = layout.shnum + added.length;
  const shdrs = Buffer.alloc(shnum * SHDR_SIZE);
  hdr.shdrs.copy(shdrs, 0);
  const placements: Placement[] = [];
  let cursor = EHDR_SIZE;
  // Unchanged sections first, in their original file order; contentless ones just get a sane offset.
  const unchanged = layout.sections
    .filter((s) => s.index !== 0 && !replaced.has(s.index))
    .sort((a, b) => a.offset - b.offset || a.index - b.index);
  for (const s of unchanged) {
    cursor = alignUp(cursor, alignOf(s.addralign));
    shdrs.writeBigUInt64LE(BigInt(cursor), s.index * SHDR_SIZE + 24);
    if (s.type !== SHT_NOBITS && s.size > 0) {
      placements.push({ index: s.index, data: undefined, newOffset: cursor });
      cursor += s.size;
    }
  }
  for (const [index, data] of [...replaced].sort((a, b) => a[0] - b[0])) {
    const s = layout.sections[index];
    if (s === undefined) continue;
    cursor = alignUp(cursor, alignOf(s.addralign));
    shdrs.writeBigUInt64LE(BigInt(cursor), index * SHDR_SIZE + 24);
    shdrs.writeBigUInt64LE(BigInt(data.length), index * SHDR_SIZE + 32);
    placements.push({ index, data, newOffset: cursor });
    cursor += data.length;
  }
  added.forEach(({ data }, i) => {
    const index = layout.shnum + i;
    const at = index * SHDR_SIZE;
    shdrs.writeUInt32LE(newNameOffsets[i] ?? 0, at);
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
  const shoff = alignUp(cursor, 8);
  return { shdrs, placements, shoff, shnum, extended };
}

async function writeLayout(src: FileHandle, dst: FileHandle, file: string, hdr: Headers, plan: InstallPlan): Promise<void> {
  const ehdr = Buffer.from(hdr.ehdr);
  ehdr.writeBigUInt64LE(BigInt(plan.shoff), 40);
  ehdr.writeUInt16LE(plan.extended ? 0 : plan.shnum, 60);
  await writeAll(dst, ehdr, 0);
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

async function writeAtomically(file: string, before: Stats, write: (dst: FileHandle) => Promise<void>): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.btfd-${randomBytes(6).toString('hex')}.tmp`);
  let dst: FileHandle | undefined;
  try {
    dst = await fsp.open(tmp, 'wx', 0o600);
    await write(dst);
    await dst.chmod(before.mode & 0o7777);
    const mine = await dst.stat();
    if (mine.uid !== before.uid || mine.gid !== before.gid) {
      // Only root can give the file back to its owner; anyone else keeps their own ownership.
      await dst.chown(before.uid, before.gid).catch(() => undefined);
    }
    await dst.sync();
    await dst.close();
    dst = undefined;
    const now = await fsp.stat(file);
    if (now.ino !== before.ino || now.dev !== before.dev || now.size !== before.size || now.mtimeMs !== before.mtimeMs) {
      throw new BtfdError('BTFD_ERR_ELF_WRITE_FAILED', `${file} changed while its sections were being installed`);
    }
    await fsp.rename(tmp, file);
  } catch (err) {
    if (dst !== undefined) await dst.close().catch(() => undefined);
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    if (err instanceof BtfdError) throw err;
    throw new BtfdError('BTFD_ERR_ELF_WRITE_FAILED', `${file}: ${errorText(err)}`, { cause: err });
  }
  // The rename is durable only once the directory entry is on disk.
  try {
    const d = await fsp.open(dir, 'r');
    try { await d.sync(); } finally { await d.close(); }
  } catch (err) {
    throw new BtfdError('BTFD_ERR_ELF_WRITE_FAILED', `${dir}: fsync of the directory failed: ${errorText(err)}`, { cause: err });
  }
}

// ---------------------------------------------------------------------------------------------
// I/O helpers

async function realpathOrThrow(file: string): Promise<string> {
  try {
    return await fsp.realpath(file);
  } catch (err) {
    throw openError(file, err);
  }
}

/** Open a file read-only, run fn with its handle and size, always close it. */
async function withFile<T>(file: string, fn: (fh: FileHandle, size: number, st: Stats) => Promise<T>): Promise<T> {
  let fh: FileHandle;
  try {
    fh = await fsp.open(file, 'r');
  } catch (err) {
    throw openError(file, err);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new BtfdError('BTFD_ERR_ELF_NOT_ELF', `${file}: not a regular file`);
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
async function readAt(fh: FileHandle, buf: Buffer, position: number, length: number, file: string): Promise<number> {
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

async function readFully(fh: FileHandle, buf: Buffer, position: number, file: string): Promise<void> {
  const n = await readAt(fh, buf, position, buf.length, file);
  if (n < buf.length) throw truncated(file, `file ended at ${position + n} while reading ${buf.length} bytes at ${position}`);
}

/** Read [offset, offset+size) in chunks of at most scratch.length bytes. */
async function streamRange(
  fh: FileHandle, file: string, offset: number, size: number, scratch: Buffer,
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

async function writeAll(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    done += bytesWritten;
  }
}

function alignUp(value: number, align: number): number {
  return Math.ceil(value / align) * align;
}

function malformed(file: string, detail: string): BtfdError {
  return new BtfdError('BTFD_ERR_ELF_MALFORMED', `${file}: ${detail}`);
}

function truncated(file: string, detail: string): BtfdError {
  return new BtfdError('BTFD_ERR_ELF_TRUNCATED', `${file}: ${detail}`);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
