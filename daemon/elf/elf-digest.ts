/**
 * The module digest: "the module" as the cache key needs it, without what the BTF step writes,
 * independent of file layout.
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
 */
import { createHash, type Hash } from 'node:crypto';
import type { BtfIdsSource } from '../btf/btf-ids.js';
import {
  CHUNK_BYTES, findUnique, malformed, readFully, readHeaders, readSectionBytes, SHF_COMPRESSED, SHF_INFO_LINK,
  SHN_LORESERVE, SHN_XINDEX, SHT_GROUP, SHT_NOBITS, SHT_REL, SHT_RELA, SHT_SYMTAB, SHT_SYMTAB_SHNDX, SHT_DYNSYM, SYM_SIZE,
  readingSynchronously, truncated, withFile, type ElfLayout, type ElfSection, type PositionalReader,
} from './elf-file.js';
import { BTF_IDS_SECTION_NAME, readBtfIdsFrom } from './elf-symbols.js';

const DIGEST_VERSION = 'btfd-module-digest-v2';
/** resolve_btfids rewrites a compressed section's sh_addralign to this (compressed_section_fix). */
const COMPRESSED_SECTION_ALIGN = 8;

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
  return withFile(file, async (handle, size) => {
    // Hashing is all this call does: its reads need not go through the threadpool.
    const fh = readingSynchronously(handle);
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

  /** Bytes [start, end) of b, small (a symbol's fields): copied without a view per call. */
  range(b: Buffer, start: number, end: number): void {
    this.room(end - start);
    this.used += b.copy(this.buf, this.used, start, end);
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
  // Not zero-filled (every byte used is read first): zeroing a 1 MiB window per module was the
  // largest item of a worker's profile in a full rehash. No larger than the file, and not the
  // whole file: a module under 1 MiB (most) is one read; a whole-file buffer for big ones left
  // 10–20 MB more resident in the pool (glibc keeps large freed blocks).
  private readonly win: Buffer;
  private winStart = 0;
  private winEnd = 0;

  constructor(private readonly fh: PositionalReader, private readonly file: string, private readonly fileSize: number) {
    this.win = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, fileSize));
  }

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
  fh: PositionalReader, file: string, layout: ElfLayout, ehdr: Buffer, phdrs: Buffer, outputNames: readonly string[],
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
  fh: PositionalReader, reader: WindowReader, file: string, layout: ElfLayout, sym: ElfSection, enc: Encoder,
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
      enc.range(buf, at, at + 6); // st_name, st_info, st_other
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
      enc.range(buf, at + 8, at + SYM_SIZE); // st_value, st_size
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
