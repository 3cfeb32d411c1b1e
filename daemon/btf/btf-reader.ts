/**
 * A validating reader for raw BTF (include/uapi/linux/btf.h), base or split.
 *
 * The representation is flat: one kind, name offset and record offset per type in typed arrays,
 * the raw bytes kept beside them. vmlinux has 100k+ types; objects per type would cost tens of MB
 * and seconds of GC for what is mostly a lookup by id or by name.
 *
 * Split BTF continues a base: its first type id is the base's type count and its string offsets
 * continue after the base's string section (libbpf's btf__new_split). Every offset and count read
 * from the bytes is checked before use, so hostile input gives a BtfdError, never a crash.
 */
import { BtfdError } from '../../shared/errors.js';

/** BTF kinds (include/uapi/linux/btf.h). */
export const BTF_KIND = {
  UNKN: 0, INT: 1, PTR: 2, ARRAY: 3, STRUCT: 4, UNION: 5, ENUM: 6, FWD: 7, TYPEDEF: 8, VOLATILE: 9,
  CONST: 10, RESTRICT: 11, FUNC: 12, FUNC_PROTO: 13, VAR: 14, DATASEC: 15, FLOAT: 16, DECL_TAG: 17,
  TYPE_TAG: 18, ENUM64: 19,
} as const;

export const BTF_MAGIC = 0xeb9f;
export const BTF_VERSION = 1;
/** struct btf_header for version 1. */
export const BTF_HEADER_BYTES = 24;

/**
 * A version-1 BTF header for `typesLength` bytes of types followed by `stringsLength` bytes of
 * strings, laid out as pahole writes them: header, types, strings, no gaps, flags 0.
 */
export function encodeBtfHeader(typesLength: number, stringsLength: number): Buffer {
  const header = Buffer.alloc(BTF_HEADER_BYTES);
  header.writeUInt16LE(BTF_MAGIC, 0);
  header.writeUInt8(BTF_VERSION, 2);
  header.writeUInt32LE(BTF_HEADER_BYTES, 4);
  header.writeUInt32LE(0, 8);
  header.writeUInt32LE(typesLength, 12);
  header.writeUInt32LE(typesLength, 16);
  header.writeUInt32LE(stringsLength, 20);
  return header;
}

/** Common part of every type record: name_off, info, size/type. */
const TYPE_HEAD_BYTES = 12;
/** libbpf's BTF_MAX_NR_TYPES: more cannot be addressed. */
const MAX_TYPES = 0x7fffffff;

/** One parsed BTF blob. Ids are global: split ids continue after the base's. */
export interface Btf {
  readonly base: Btf | null;
  /** The id of this blob's first own type: 1 for a base, the base's typeCount for split BTF. */
  readonly firstId: number;
  /** Ids in use plus one (libbpf's btf__type_cnt): void, the base's types, then our own. */
  readonly typeCount: number;
  /** Own types. */
  readonly count: number;
  /** Own string section length; global string offsets of our strings start at stringsStart. */
  readonly stringsLength: number;
  readonly stringsStart: number;
  /** Kind, name offset and byte offset (into `bytes`) of each own type, by `id - firstId`. */
  readonly kinds: Uint8Array;
  readonly nameOffsets: Uint32Array;
  readonly recordOffsets: Uint32Array;
  /** The raw BTF this was parsed from. */
  readonly bytes: Buffer;
  /** Byte offsets in `bytes` of the type and string sections. */
  readonly typesOffset: number;
  readonly typesLength: number;
  readonly stringsOffset: number;
}

function malformed(what: string, detail: string): never {
  throw new BtfdError('BTFD_ERR_BTF_MALFORMED', `${what}: ${detail}`);
}

/** Bytes of a record's kind-specific part after the 12-byte head. */
export function recordTailBytes(kind: number, vlen: number): number | undefined {
  switch (kind) {
    case BTF_KIND.INT: case BTF_KIND.VAR: case BTF_KIND.DECL_TAG: return 4;
    case BTF_KIND.ARRAY: return 12;
    case BTF_KIND.STRUCT: case BTF_KIND.UNION: case BTF_KIND.DATASEC: case BTF_KIND.ENUM64: return 12 * vlen;
    case BTF_KIND.ENUM: case BTF_KIND.FUNC_PROTO: return 8 * vlen;
    case BTF_KIND.PTR: case BTF_KIND.FWD: case BTF_KIND.TYPEDEF: case BTF_KIND.VOLATILE: case BTF_KIND.CONST:
    case BTF_KIND.RESTRICT: case BTF_KIND.FUNC: case BTF_KIND.FLOAT: case BTF_KIND.TYPE_TAG: return 0;
    default: return undefined;
  }
}

/**
 * Parse BTF bytes. Pass the parsed base for split BTF.
 * @param what names the blob in error messages (a file, or "module .BTF").
 */
export function parseBtf(bytes: Buffer, base: Btf | null = null, what = 'BTF'): Btf {
  if (bytes.length < BTF_HEADER_BYTES) malformed(what, `${bytes.length} bytes, shorter than the BTF header`);
  if (bytes.readUInt16LE(0) !== BTF_MAGIC) malformed(what, 'no BTF magic (or not little-endian)');
  if (bytes[2] !== BTF_VERSION) malformed(what, `BTF version ${String(bytes[2])}, expected ${BTF_VERSION}`);
  const hdrLen = bytes.readUInt32LE(4);
  if (hdrLen < BTF_HEADER_BYTES || hdrLen > bytes.length) malformed(what, `header length ${hdrLen}`);
  const typeOff = bytes.readUInt32LE(8);
  const typeLen = bytes.readUInt32LE(12);
  const strOff = bytes.readUInt32LE(16);
  const strLen = bytes.readUInt32LE(20);
  const typesOffset = hdrLen + typeOff;
  const stringsOffset = hdrLen + strOff;
  if (typesOffset + typeLen > bytes.length) malformed(what, 'type section runs past the end');
  if (stringsOffset + strLen > bytes.length) malformed(what, 'string section runs past the end');
  if (typeLen % 4 !== 0) malformed(what, `type section length ${typeLen} is not a multiple of 4`);
  if (strLen > 0 && bytes[stringsOffset + strLen - 1] !== 0) malformed(what, 'string section is not NUL-terminated');
  if (!base && (strLen === 0 || bytes[stringsOffset] !== 0)) {
    // As libbpf's btf_parse_str_sec: a base's strings start with the empty string; split BTF may
    // have none of its own.
    malformed(what, 'string section does not start with the empty string');
  }

  // Count first, then fill typed arrays: no per-type objects, no array growth.
  let count = 0;
  for (let p = typesOffset, end = typesOffset + typeLen; p < end; count++) {
    if (p + TYPE_HEAD_BYTES > end) malformed(what, `type ${count} is truncated`);
    const info = bytes.readUInt32LE(p + 4);
    const tail = recordTailBytes((info >>> 24) & 0x1f, info & 0xffff);
    if (tail === undefined) malformed(what, `type ${count} has unknown kind ${(info >>> 24) & 0x1f}`);
    p += TYPE_HEAD_BYTES + tail;
    if (p > end) malformed(what, `type ${count} runs past the type section`);
  }
  const firstId = base ? base.typeCount : 1;
  if (firstId + count > MAX_TYPES) malformed(what, 'too many types');
  const kinds = new Uint8Array(count);
  const nameOffsets = new Uint32Array(count);
  const recordOffsets = new Uint32Array(count);
  const stringsStart = base ? base.stringsStart + base.stringsLength : 0;
  const stringsEnd = stringsStart + strLen;
  for (let i = 0, p = typesOffset; i < count; i++) {
    const nameOff = bytes.readUInt32LE(p);
    const info = bytes.readUInt32LE(p + 4);
    if (nameOff >= stringsEnd) malformed(what, `type ${firstId + i}: name offset ${nameOff} out of range`);
    kinds[i] = (info >>> 24) & 0x1f;
    nameOffsets[i] = nameOff;
    recordOffsets[i] = p;
    p += TYPE_HEAD_BYTES + recordTailBytes(kinds[i]!, info & 0xffff)!;
  }
  return {
    base, firstId, typeCount: firstId + count, count, stringsLength: strLen, stringsStart,
    kinds, nameOffsets, recordOffsets, bytes, typesOffset, typesLength: typeLen, stringsOffset,
  };
}

/** The blob (this one or a base) that holds type `id`, or undefined for void and unknown ids. */
export function ownerOfType(btf: Btf, id: number): Btf | undefined {
  for (let b: Btf | null = btf; b; b = b.base) {
    if (id >= b.firstId && id < b.typeCount) return b;
  }
  return undefined;
}

/** The kind of type `id` (0 for void). */
export function kindOf(btf: Btf, id: number): number {
  const owner = ownerOfType(btf, id);
  return owner ? owner.kinds[id - owner.firstId]! : BTF_KIND.UNKN;
}

/** The string at a global string offset, as latin1 (byte-exact); undefined when out of range. */
export function stringAt(btf: Btf, offset: number): string | undefined {
  for (let b: Btf | null = btf; b; b = b.base) {
    if (offset >= b.stringsStart && offset < b.stringsStart + b.stringsLength) {
      const start = b.stringsOffset + (offset - b.stringsStart);
      const end = b.bytes.indexOf(0, start);
      return b.bytes.toString('latin1', start, end);
    }
  }
  return undefined;
}

/** The name of type `id` ('' for anonymous types and void). */
export function nameOf(btf: Btf, id: number): string {
  const owner = ownerOfType(btf, id);
  if (!owner) return '';
  return stringAt(owner, owner.nameOffsets[id - owner.firstId]!) ?? '';
}

const KIND_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(BTF_KIND).map(([name, kind]) => [kind, name.toLowerCase()]));
/** Kinds that only qualify or point at another type, read as a prefix. */
const PREFIXES: ReadonlyMap<number, string> = new Map([
  [BTF_KIND.PTR, 'pointer to'], [BTF_KIND.CONST, 'const'], [BTF_KIND.VOLATILE, 'volatile'], [BTF_KIND.RESTRICT, 'restrict'],
]);

/**
 * Type `id` as a person reads it in a message: `struct task_struct`, `pointer to struct rq`,
 * `anonymous union`, followed by its id.
 */
export function describeType(btf: Btf, id: number): string {
  const words: string[] = [];
  let current = id;
  for (let depth = 0; depth < 8; depth++) {
    const owner = ownerOfType(btf, current);
    if (current === 0 || owner === undefined) {
      words.push(current === 0 ? 'void' : `type #${current}`);
      break;
    }
    const kind = owner.kinds[current - owner.firstId]!;
    const name = nameOf(btf, current);
    const prefix = PREFIXES.get(kind);
    if (name === '' && prefix !== undefined) {
      words.push(prefix);
      current = owner.bytes.readUInt32LE(owner.recordOffsets[current - owner.firstId]! + 8);
      continue;
    }
    words.push(name === '' ? `anonymous ${KIND_NAMES.get(kind) ?? 'type'}` : `${KIND_NAMES.get(kind) ?? 'type'} ${name}`);
    break;
  }
  return `${words.join(' ')} (#${id})`;
}
