/**
 * The base digest: what a module's split BTF depends on in vmlinux is the bytes of its `.BTF`
 * section only (type IDs and string offsets continue from there), not the rest of vmlinux, which
 * relinks all the time. A raw BTF file (e.g. /sys/kernel/btf/vmlinux) holds the same bytes, so
 * both hash to the same digest: plain sha256 of the BTF bytes, streamed.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { BtfdError } from '../../shared/errors.js';
import { readElfLayout, SHT_NOBITS } from './elf.js';

/** Result of digestBase. */
export interface BaseDigest {
  /** sha256 (hex) of the BTF bytes. */
  readonly digest: string;
  /** 'elf' when the BTF came from a `.BTF` section, 'raw' when the file is BTF itself. */
  readonly kind: 'elf' | 'raw';
  /** How many bytes of BTF were hashed. */
  readonly bytes: number;
}

/** Size of struct btf_header (include/uapi/linux/btf.h) for version 1. */
const BTF_HEADER_BYTES = 24;
const BTF_VERSION = 1;
const CHUNK_BYTES = 1 << 20;

/** Digest the base BTF of a vmlinux ELF or a raw BTF file. */
export async function digestBase(file: string): Promise<BaseDigest> {
  let fh: FileHandle;
  try {
    fh = await fsp.open(file, 'r');
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    const what = code === 'ENOENT' || code === 'ENOTDIR' ? 'does not exist' : `cannot be read (${String(code)})`;
    throw new BtfdError('BTFD_ERR_BASE_MISSING', `base ${file} ${what}`, { cause: err });
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new BtfdError('BTFD_ERR_BASE_INVALID', `base ${file} is not a regular file`);
    const head = Buffer.alloc(4);
    const { bytesRead } = await fh.read(head, 0, 4, 0);
    if (bytesRead === 4 && head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) {
      // ELF errors (truncated, malformed, ...) keep their own codes: they say what is wrong.
      const layout = await readElfLayout(file);
      const sec = layout.sections.find((s) => s.index !== 0 && s.name === '.BTF');
      if (sec === undefined || sec.type === SHT_NOBITS) throw new BtfdError('BTFD_ERR_BASE_NO_BTF', `base ${file} has no .BTF section`);
      await checkBtfHeader(fh, file, sec.offset, sec.size);
      return { digest: await hashRange(fh, sec.offset, sec.size), kind: 'elf', bytes: sec.size };
    }
    if (bytesRead >= 2 && head[0] === 0x9f && head[1] === 0xeb) {
      await checkBtfHeader(fh, file, 0, st.size);
      return { digest: await hashRange(fh, 0, st.size), kind: 'raw', bytes: st.size };
    }
    throw new BtfdError('BTFD_ERR_BASE_INVALID', `base ${file} is neither an ELF file nor raw BTF`);
  } catch (err) {
    if (err instanceof BtfdError) throw err;
    throw new BtfdError('BTFD_ERR_BASE_MISSING', `base ${file} cannot be read: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** The BTF must start with a little-endian version-1 header; anything else is not a usable base. */
async function checkBtfHeader(fh: FileHandle, file: string, offset: number, size: number): Promise<void> {
  const hdr = Buffer.alloc(BTF_HEADER_BYTES);
  const { bytesRead } = size >= BTF_HEADER_BYTES ? await fh.read(hdr, 0, BTF_HEADER_BYTES, offset) : { bytesRead: 0 };
  if (bytesRead < BTF_HEADER_BYTES) throw new BtfdError('BTFD_ERR_BASE_INVALID', `base ${file}: BTF of ${size} bytes is shorter than its header`);
  if (hdr.readUInt16LE(0) !== 0xeb9f) throw new BtfdError('BTFD_ERR_BASE_INVALID', `base ${file}: .BTF does not start with the BTF magic`);
  if (hdr[2] !== BTF_VERSION) throw new BtfdError('BTFD_ERR_BASE_INVALID', `base ${file}: BTF version ${String(hdr[2])}, expected ${BTF_VERSION}`);
}

async function hashRange(fh: FileHandle, offset: number, size: number): Promise<string> {
  const hash = createHash('sha256');
  const buf = Buffer.alloc(Math.min(CHUNK_BYTES, Math.max(size, 1)));
  let done = 0;
  while (done < size) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - done), offset + done);
    if (bytesRead === 0) throw new BtfdError('BTFD_ERR_BASE_INVALID', 'base file shrank while being hashed');
    hash.update(buf.subarray(0, bytesRead));
    done += bytesRead;
  }
  return hash.digest('hex');
}
