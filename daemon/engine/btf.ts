/**
 * A small reader for (split) BTF, for one question: are two module BTFs the same types, perhaps in
 * another order? pahole 1.24's `-j` orders a multi-CU module's types by thread scheduling, so
 * byte equality is too strict and type IDs differ between runs.
 *
 * Equality up to order is decided by colour refinement (Weisfeiler-Lehman) over the type graph:
 * each type starts with a label from its own scalars (kind, name, size, member names and offsets,
 * enum values…), then repeatedly absorbs its referenced types' labels. References into the base
 * keep their ID (the base is the same on both sides), so only the split part is canonicalised.
 * Two BTFs are equal when their multisets of final labels are.
 */
import { createHash } from 'node:crypto';

const BTF_MAGIC = 0xeb9f;
const HEADER_MIN_BYTES = 24;

/** BTF kinds (include/uapi/linux/btf.h). */
const KIND = {
  INT: 1, PTR: 2, ARRAY: 3, STRUCT: 4, UNION: 5, ENUM: 6, FWD: 7, TYPEDEF: 8, VOLATILE: 9, CONST: 10,
  RESTRICT: 11, FUNC: 12, FUNC_PROTO: 13, VAR: 14, DATASEC: 15, FLOAT: 16, DECL_TAG: 17, TYPE_TAG: 18, ENUM64: 19,
} as const;

/** One type: its own scalars as text, and the type IDs it refers to, in order. */
interface BtfType {
  readonly scalars: string;
  readonly refs: readonly number[];
}

export interface ParsedBtf {
  /** ID of the first type in this BTF (1 for a base, the base's type count for split BTF). */
  readonly firstId: number;
  readonly types: readonly BtfType[];
  /** Number of types including the implicit void, as libbpf's btf__type_cnt counts. */
  readonly typeCount: number;
  readonly strings: Buffer;
}

function fail(why: string): never {
  throw new Error(`malformed BTF: ${why}`);
}

/**
 * Parse BTF bytes. For split BTF pass the parsed base: IDs and string offsets continue from it.
 */
export function parseBtf(bytes: Buffer, base?: ParsedBtf): ParsedBtf {
  if (bytes.length < HEADER_MIN_BYTES || bytes.readUInt16LE(0) !== BTF_MAGIC) fail('bad magic');
  const hdrLen = bytes.readUInt32LE(4);
  const typeOff = bytes.readUInt32LE(8);
  const typeLen = bytes.readUInt32LE(12);
  const strOff = bytes.readUInt32LE(16);
  const strLen = bytes.readUInt32LE(20);
  if (hdrLen + typeOff + typeLen > bytes.length || hdrLen + strOff + strLen > bytes.length) fail('sections past the end');
  const strings = bytes.subarray(hdrLen + strOff, hdrLen + strOff + strLen);
  const baseStrings = base ? base.strings : Buffer.alloc(0);
  const name = (offset: number): string => {
    const table = offset < baseStrings.length ? baseStrings : strings;
    const start = offset < baseStrings.length ? offset : offset - baseStrings.length;
    if (start >= table.length) fail(`string offset ${offset} out of range`);
    const end = table.indexOf(0, start);
    return table.toString('utf8', start, end < 0 ? table.length : end);
  };
  const types: BtfType[] = [];
  let p = hdrLen + typeOff;
  const end = p + typeLen;
  const u32 = (at: number) => {
    if (at + 4 > end) fail('type data truncated');
    return bytes.readUInt32LE(at);
  };
  while (p < end) {
    const nameOff = u32(p);
    const info = u32(p + 4);
    const sizeOrType = u32(p + 8);
    p += 12;
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const kflag = info >>> 31;
    const head = `${kind}|${name(nameOff)}|${kflag}|${vlen}`;
    const refs: number[] = [];
    const scalars: (string | number)[] = [head];
    switch (kind) {
      case KIND.INT:
        scalars.push(sizeOrType, u32(p));
        p += 4;
        break;
      case KIND.PTR: case KIND.FWD: case KIND.TYPEDEF: case KIND.VOLATILE: case KIND.CONST:
      case KIND.RESTRICT: case KIND.FUNC: case KIND.TYPE_TAG:
        refs.push(sizeOrType);
        break;
      case KIND.FLOAT:
        scalars.push(sizeOrType);
        break;
      case KIND.ARRAY:
        refs.push(u32(p), u32(p + 4));
        scalars.push(u32(p + 8));
        p += 12;
        break;
      case KIND.STRUCT: case KIND.UNION:
        scalars.push(sizeOrType);
        for (let i = 0; i < vlen; i++, p += 12) {
          scalars.push(name(u32(p)), u32(p + 8));
          refs.push(u32(p + 4));
        }
        break;
      case KIND.ENUM:
        scalars.push(sizeOrType);
        for (let i = 0; i < vlen; i++, p += 8) scalars.push(name(u32(p)), u32(p + 4));
        break;
      case KIND.ENUM64:
        scalars.push(sizeOrType);
        for (let i = 0; i < vlen; i++, p += 12) scalars.push(name(u32(p)), u32(p + 4), u32(p + 8));
        break;
      case KIND.FUNC_PROTO:
        refs.push(sizeOrType);
        for (let i = 0; i < vlen; i++, p += 8) {
          scalars.push(name(u32(p)));
          refs.push(u32(p + 4));
        }
        break;
      case KIND.VAR:
        refs.push(sizeOrType);
        scalars.push(u32(p));
        p += 4;
        break;
      case KIND.DATASEC:
        scalars.push(sizeOrType);
        for (let i = 0; i < vlen; i++, p += 12) {
          refs.push(u32(p));
          scalars.push(u32(p + 4), u32(p + 8));
        }
        break;
      case KIND.DECL_TAG:
        refs.push(sizeOrType);
        scalars.push(u32(p));
        p += 4;
        break;
      default:
        fail(`unknown kind ${kind}`);
    }
    types.push({ scalars: scalars.join('\u0001'), refs });
  }
  const firstId = base ? base.typeCount : 1;
  return { firstId, types, typeCount: firstId + types.length, strings: base ? Buffer.concat([baseStrings, strings]) : strings };
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('base64');
}

/**
 * Refine labels for `rounds` rounds (or until the partition is stable, when rounds is omitted).
 * Returns the sorted labels and the number of rounds it took to stabilise.
 */
export function canonicalTypeLabels(btf: ParsedBtf, rounds?: number): { labels: string[]; rounds: number } {
  const own = (id: number) => id >= btf.firstId && id < btf.typeCount;
  let labels = btf.types.map((type) => digest(type.scalars));
  const refLabel = (id: number, current: readonly string[]) => (own(id) ? current[id - btf.firstId]! : `base:${id}`);
  let classes = new Set(labels).size;
  let round = 0;
  while (round < (rounds ?? btf.types.length)) {
    const previous = labels;
    labels = btf.types.map((type, i) => digest(`${previous[i]}|${type.refs.map((id) => refLabel(id, previous)).join(',')}`));
    round++;
    const refined = new Set(labels).size;
    if (rounds === undefined && refined === classes) break;
    classes = refined;
  }
  return { labels: labels.sort(), rounds: round };
}

/** True when two split BTFs over the same base hold the same types, in any order. */
export function sameTypesUpToOrder(a: Buffer, b: Buffer, base?: Buffer): boolean {
  if (a.equals(b)) return true;
  const parsedBase = base ? parseBtf(base) : undefined;
  const btfA = parseBtf(a, parsedBase);
  const btfB = parseBtf(b, parsedBase);
  if (btfA.types.length !== btfB.types.length) return false;
  // Labels are only comparable after the same number of rounds: refine both as far as either needs.
  const rounds = Math.max(canonicalTypeLabels(btfA).rounds, canonicalTypeLabels(btfB).rounds);
  const labelsA = canonicalTypeLabels(btfA, rounds).labels;
  const labelsB = canonicalTypeLabels(btfB, rounds).labels;
  return labelsA.every((label, i) => label === labelsB[i]);
}
