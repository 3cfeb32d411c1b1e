/**
 * A type's shape: what it is apart from the ids it refers to. Two types with the same shape and,
 * reference by reference, equal referred types are the same type — the comparison libbpf's dedup
 * makes, and the one btf-compare and the relocation's base diff refine over.
 */
import { recordTailBytes, stringAt, type Btf } from './btf-reader.js';
import { visitStringOffsets, visitTypeIds } from './btf-walk.js';

/**
 * One own type: its scalars as text (every field of its record that is neither a type id nor a
 * string offset, and its names as strings), and the ids it refers to, in order.
 */
export interface TypeShape {
  readonly scalars: string;
  readonly refs: readonly number[];
}

export function typeShape(btf: Btf, index: number): TypeShape {
  const start = btf.recordOffsets[index]!;
  const vlen = btf.bytes.readUInt32LE(start + 4) & 0xffff;
  const end = start + 12 + recordTailBytes(btf.kinds[index]!, vlen)!;
  const typeIds = new Set<number>();
  const strings = new Set<number>();
  visitTypeIds(btf, index, (_, at) => typeIds.add(at));
  visitStringOffsets(btf, index, (_, at) => strings.add(at));
  const scalars: string[] = [];
  const refs: number[] = [];
  for (let at = start; at < end; at += 4) {
    const value = btf.bytes.readUInt32LE(at);
    if (typeIds.has(at)) refs.push(value);
    else if (strings.has(at)) scalars.push(stringAt(btf, value) ?? `?${value}`);
    else scalars.push(String(value));
  }
  return { scalars: scalars.join('\u0001'), refs };
}

