/**
 * The base digest: what a module's split BTF depends on in vmlinux is the bytes of its `.BTF`
 * section only (type IDs and string offsets continue from there), not the rest of vmlinux, which
 * relinks all the time. A raw BTF file (e.g. /sys/kernel/btf/vmlinux) holds the same bytes, so
 * both hash to the same digest: plain sha256 of the BTF bytes.
 */
import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { BtfdError } from '../../shared/errors.js';
import { BTF_HEADER_BYTES, BTF_VERSION } from '../btf/btf-reader.js';
import { readElfLayout, SHT_NOBITS } from '../elf/elf-file.js';
import { describeFileType, openRegular } from '../fs/open-regular.js';

/** Result of digestBase. */
export interface BaseDigest {
  /** sha256 (hex) of the BTF bytes. */
  readonly digest: string;
  /** 'elf' when the BTF came from a `.BTF` section, 'raw' when the file is BTF itself. */
  readonly kind: 'elf' | 'raw';
  /** How many bytes of BTF were hashed. */
  readonly bytes: number;
}


/** The base's BTF bytes, with their digest. */
export interface BaseBtf extends BaseDigest {
  readonly btf: Buffer;
}

/** Digest the base BTF of a vmlinux ELF or a raw BTF file. */
export async function digestBase(file: string): Promise<BaseDigest> {
  const { digest, kind, bytes } = await readBaseBtf(file);
  return { digest, kind, bytes };
}

/**
 * Read the base BTF of a vmlinux ELF (its `.BTF` section) or a raw BTF file. The bytes are read
 * whole: a vmlinux's BTF is a few MB, and pahole is handed exactly these bytes (base snapshots).
 */
export async function readBaseBtf(file: string): Promise<BaseBtf> {
  let fh: FileHandle;
  let st: Stats;
  try {
    ({ handle: fh, stats: st } = await openRegular(file, (found) => new BtfdError('BTFD_ERR_BASE_INVALID', `base ${file} is ${describeFileType(found)}, not a regular file`)));
  } catch (err) {
    if (err instanceof BtfdError) throw err;
    const code = (err as { code?: unknown } | null)?.code;
    const what = code === 'ENOENT' || code === 'ENOTDIR' ? 'does not exist' : `cannot be read (${String(code)})`;
    throw new BtfdError('BTFD_ERR_BASE_MISSING', `base ${file} ${what}`, { cause: err });
  }
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await fh.read(head, 0, 4, 0);
    let kind: BaseDigest['kind'];
    let offset: number;
    let size: number;
    if (bytesRead === 4 && head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) {
      // ELF errors (truncated, malformed, ...) keep their own codes: they say what is wrong.
      const layout = await readElfLayout(file);
      const sec = layout.sections.find((s) => s.index !== 0 && s.name === '.BTF');
      if (sec === undefined || sec.type === SHT_NOBITS) throw new BtfdError('BTFD_ERR_BASE_NO_BTF', `base ${file} has no .BTF section`);
      [kind, offset, size] = ['elf', sec.offset, sec.size];
    } else if (bytesRead >= 2 && head[0] === 0x9f && head[1] === 0xeb) {
      [kind, offset, size] = ['raw', 0, st.size];
    } else {
      throw new BtfdError('BTFD_ERR_BASE_INVALID', `base ${file} is neither an ELF file nor raw BTF`);
    }
    const btf = Buffer.alloc(size);
    let done = 0;
    while (done < size) {
      const { bytesRead: n } = await fh.read(btf, done, size - done, offset + done);
      if (n === 0) throw new BtfdError('BTFD_ERR_BASE_INVALID', `base ${file} shrank while being read`);
      done += n;
    }
    checkBtfHeader(btf, file);
    return { digest: createHash('sha256').update(btf).digest('hex'), kind, bytes: size, btf };
  } catch (err) {
    if (err instanceof BtfdError) throw err;
    throw new BtfdError('BTFD_ERR_BASE_MISSING', `base ${file} cannot be read: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** The BTF must start with a little-endian version-1 header; anything else is not a usable base. */
function checkBtfHeader(btf: Buffer, file: string): void {
  if (btf.length < BTF_HEADER_BYTES) throw new BtfdError('BTFD_ERR_BASE_INVALID', `base ${file}: BTF of ${btf.length} bytes is shorter than its header`);
  if (btf.readUInt16LE(0) !== 0xeb9f) throw new BtfdError('BTFD_ERR_BASE_INVALID', `base ${file}: .BTF does not start with the BTF magic`);
  if (btf[2] !== BTF_VERSION) throw new BtfdError('BTFD_ERR_BASE_INVALID', `base ${file}: BTF version ${String(btf[2])}, expected ${BTF_VERSION}`);
}
