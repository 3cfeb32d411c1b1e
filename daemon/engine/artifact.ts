/**
 * An artifact is what the BTF step writes into a module: its output sections (`.BTF`, and
 * `.BTF.base` when present), encoded as one blob so that one digest names all of them.
 *
 * The same encoding of a module's current output sections gives the digest the planner compares
 * with the cached artifact's: equal digests mean the module is fresh.
 */
import { createHash } from 'node:crypto';
import { BtfdError } from '../../shared/errors.js';

const MAGIC = Buffer.from('BTFDART1');

/** Sections the BTF step writes (besides `.BTF_ids` contents, which btfd does not rewrite). */
export const OUTPUT_SECTION_NAMES: readonly string[] = ['.BTF', '.BTF.base'];

/** Encode sections as `MAGIC, count, (name length, name, data length, data)*`, sorted by name. */
export function encodeArtifact(sections: ReadonlyMap<string, Buffer>): Buffer {
  const names = [...sections.keys()].sort();
  const parts: Buffer[] = [MAGIC, u32(names.length)];
  for (const name of names) {
    const nameBytes = Buffer.from(name, 'utf8');
    const data = sections.get(name)!;
    parts.push(u32(nameBytes.length), nameBytes, u32(data.length), data);
  }
  return Buffer.concat(parts);
}

/** Decode an artifact blob; a malformed one is a corrupt cache entry. */
export function decodeArtifact(blob: Buffer): Map<string, Buffer> {
  const corrupt = (why: string) => new BtfdError('BTFD_ERR_CACHE_CORRUPT', `artifact blob is malformed: ${why}`);
  if (blob.length < MAGIC.length + 4 || !blob.subarray(0, MAGIC.length).equals(MAGIC)) throw corrupt('bad magic');
  let offset = MAGIC.length;
  const read = (length: number): Buffer => {
    if (offset + length > blob.length) throw corrupt('truncated');
    const slice = blob.subarray(offset, offset + length);
    offset += length;
    return slice;
  };
  const count = read(4).readUInt32LE(0);
  const sections = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    const name = read(read(4).readUInt32LE(0)).toString('utf8');
    sections.set(name, Buffer.from(read(read(4).readUInt32LE(0))));
  }
  if (offset !== blob.length) throw corrupt('trailing bytes');
  return sections;
}

/** sha256 hex of an artifact encoding. */
export function artifactDigest(encoded: Buffer): string {
  return createHash('sha256').update(encoded).digest('hex');
}

/** The digest of a module's current output sections, or null when it has none. */
export function outputsDigest(outputs: ReadonlyMap<string, Buffer>): string | null {
  return outputs.size === 0 ? null : artifactDigest(encodeArtifact(outputs));
}

function u32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32LE(value, 0);
  return buffer;
}
