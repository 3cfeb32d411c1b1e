/**
 * Installing output sections into a module, atomically.
 *
 *  - Every variable-length item is length-prefixed and every record is tagged, so two different
 *    modules cannot encode to the same byte stream.
 *
 * installSections keeps every existing section's index and header (sh_offset aside, and sh_size
 * of a replaced section or a grown `.shstrtab`), appends new sections at the end of the table,
 * copies unchanged section contents in their original file order and writes changed ones after
 * them. The file is written to a temp file in the same directory and renamed over the original,
 */
import type { Stats } from 'node:fs';
import { stat, type FileHandle } from 'node:fs/promises';
import { BtfdError } from '../../shared/errors.js';
import { writeFileAtomic } from '../fs/atomic-file.js';
import {
  alignUp, CHUNK_BYTES, EHDR_SIZE, errorText, ET_REL, findUnique, malformed, readHeaders, readSectionBytes,
  realpathOrThrow, SHDR_SIZE, SHN_LORESERVE, SHT_NOBITS, SHT_PROGBITS, streamRange, withFile, writeAll, type Headers,
} from './elf-file.js';

/** Alignment padding beyond this in a rewritten file would be absurd for a module. */
const MAX_INSTALL_ALIGN = 1 << 20;
/** Padding between sections copied along with them rather than splitting a copy. */
const MAX_COPIED_GAP_BYTES = 4096;

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
