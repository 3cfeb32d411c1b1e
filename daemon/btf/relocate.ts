/**
 * Relocation: a module's split BTF, encoded by pahole against base A, rewritten onto base B so that
 * it is byte for byte what `pahole -J --btf_base B` would write — or refused, with the reasons,
 * when that cannot be shown. docs/relocation.md has the method and the evidence.
 *
 * How pahole lays out split BTF (pahole + libbpf's btf__dedup): the module's types in DWARF order
 * (P), each either deduplicated into an equal base type (then invisible), into an earlier module
 * type, or kept; kept types in P order, numbered from the base's type count. Strings: a string the
 * base holds (whole, first occurrence) is the base's offset; the others form the module's own
 * section in first-reference order over P.
 *
 * So if every base type the cached BTF refers to has exactly one equal in B, the same types are
 * deduplicated into B as were into A, and B attracts no kept type, pahole's result on B is the
 * cached one with base ids mapped to their equals, module ids renumbered from B's count, base
 * string offsets mapped to B's, and the own strings B now holds dropped (the rest keep their
 * order). The checks, each a reason to refuse:
 *  1. a referenced base type with no equal in B, or several (libbpf's pick would be hash order);
 *     a struct/union name, referenced or FWD-declared by the module, whose count changed (libbpf
 *     resolves a FWD to the only struct of its name);
 *  2. a referenced base string B does not hold (it would move into the own section, at a position
 *     set by P, which the cache does not record);
 *  3. a kept module type that has an equal among B's new types (dedup would now take it);
 *  4. when A types are gone from B (D): the module could have deduplicated into one, invisibly —
 *     refused when the module's symbol table defines a gone function, or its DWARF names a gone
 *     type's witness (base-diff.ts).
 * Under these checks the prototype relocated 151 real modules over 8 bases with no wrong result.
 */
import { BTF_KIND, describeType, encodeBtfHeader, kindOf, nameOf, ownerOfType, parseBtf, stringAt, type Btf } from './btf-reader.js';
import { AMBIGUOUS, NO_MEMBER, type BaseDiff } from './base-diff.js';
import { typeShape } from './btf-shape.js';
import { visitStringOffsets, visitTypeIds } from './btf-walk.js';

/** Names found in a module's ELF file, for the witness check (see elf-dwarf-names.ts). */
export interface ModuleNames {
  /** Names of the functions its symbol table defines or names (STT_FUNC). */
  readonly functions: ReadonlySet<string>;
  /** Strings its DWARF refers to in `.debug_str`. */
  readonly strpStrings: ReadonlySet<string>;
  /** Identifier runs of `.debug_info` (inline strings), reversed and sorted, for suffix tests. */
  readonly reversedRuns: readonly string[];
}

/** What relocation needs of the new base besides the diff, built once per base (and diff). */
export interface RelocationTarget {
  readonly a: Btf;
  readonly b: Btf;
  readonly diff: BaseDiff;
  /** B's strings: each whole string's first offset (libbpf's btf__find_str). */
  readonly bStrings: ReadonlyMap<string, number>;
  /** B's new types (N) by shape, for the attractor check; VAR and DATASEC are never deduplicated. */
  readonly newTypesByShape: ReadonlyMap<string, readonly number[]>;
}

export type RelocationResult =
  | { readonly ok: true; readonly btf: Buffer }
  | { readonly ok: false; readonly reasons: readonly string[] };

/** Index B's strings and new types once per pair of bases. */
export function relocationTarget(a: Btf, b: Btf, diff: BaseDiff): RelocationTarget {
  const bStrings = new Map<string, number>();
  const own = b.bytes.subarray(b.stringsOffset, b.stringsOffset + b.stringsLength);
  for (let start = 0; start < own.length;) {
    const end = own.indexOf(0, start);
    const text = own.toString('latin1', start, end);
    if (!bStrings.has(text)) bStrings.set(text, b.stringsStart + start);
    start = end + 1;
  }
  const newTypesByShape = new Map<string, number[]>();
  for (let j = 1; j < b.typeCount; j++) {
    if (diff.aHasClass[diff.classOfB[j]!]) continue;
    const kind = b.kinds[j - 1];
    if (kind === BTF_KIND.VAR || kind === BTF_KIND.DATASEC) continue;
    const key = typeShape(b, j - 1).scalars;
    const list = newTypesByShape.get(key);
    if (list) list.push(j);
    else newTypesByShape.set(key, [j]);
  }
  return { a, b, diff, bStrings, newTypesByShape };
}

const isComposite = (kind: number): boolean => kind === BTF_KIND.STRUCT || kind === BTF_KIND.UNION;

/** bit 31 of info: a FWD's "union" flag. */
function kflag(btf: Btf, id: number): boolean {
  const owner = ownerOfType(btf, id);
  return owner !== undefined && (owner.bytes.readUInt32LE(owner.recordOffsets[id - owner.firstId]! + 4) >>> 31) === 1;
}

/** True when `witness` is a suffix of some identifier run (runs given reversed and sorted). */
function suffixOfARun(reversedRuns: readonly string[], witness: string): boolean {
  const reversed = [...witness].reverse().join('');
  let lo = 0;
  let hi = reversedRuns.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (reversedRuns[mid]! < reversed) lo = mid + 1;
    else hi = mid;
  }
  return lo < reversedRuns.length && reversedRuns[lo]!.startsWith(reversed);
}

export interface RelocationOptions {
  /**
   * Rewrite even when checks 3 and 4 or a name count object, as long as every id and string can
   * be mapped. Never for installing: the corpus benchmark uses it to tell needless refusals (the
   * forced rewrite equals pahole's output anyway) from needed ones.
   */
  readonly unchecked?: boolean;
}

/**
 * Relocate `split` (a module's `.BTF`, split on the target's base A) onto B.
 * @param moduleNames the module's symbol and DWARF names, read only when A types are gone from B.
 */
export async function relocateSplitBtf(
  split: Buffer,
  target: RelocationTarget,
  moduleNames: () => Promise<ModuleNames>,
  options: RelocationOptions = {},
): Promise<RelocationResult> {
  const checked = options.unchecked !== true;
  const { a, b, diff } = target;
  const m = parseBtf(split, a, 'the cached module .BTF');
  const nA = a.typeCount;
  const reasons: string[] = [];
  const refuse = (): RelocationResult => ({ ok: false, reasons: [...new Set(reasons)].slice(0, 8) });
  const suChanged = new Set(diff.suChanged);

  // 1. Every referenced base type has exactly one equal in B.
  const baseMap = new Map<number, number>([[0, 0]]);
  for (let i = 0; i < m.count; i++) {
    if (checked && m.kinds[i] === BTF_KIND.FWD && suChanged.has(nameOf(m, m.firstId + i))) reasons.push(`module FWD ${nameOf(m, m.firstId + i)}: struct name count changed`);
    visitTypeIds(m, i, (ref) => {
      if (ref >= m.typeCount) reasons.push(`type ${m.firstId + i} refers to ${ref}, beyond its types`);
      if (ref >= nA || baseMap.has(ref)) return;
      const j = diff.bOfClass[diff.classOfA[ref]!]!;
      const name = nameOf(a, ref);
      if (j === NO_MEMBER) reasons.push(`base type ${describeType(a, ref)} is gone or changed`);
      else if (j === AMBIGUOUS) reasons.push(`base type ${describeType(a, ref)} has several equals in the new base`);
      else baseMap.set(ref, j);
      if (checked && isComposite(kindOf(a, ref)) && suChanged.has(name)) reasons.push(`struct ${name}: name count changed`);
    });
  }
  if (reasons.length > 0) return refuse();

  // 2. Every referenced base string is a whole string of B (and own ones start a string).
  const stringMap = new Map<number, number>([[0, 0]]);
  const own = m.bytes.subarray(m.stringsOffset, m.stringsOffset + m.stringsLength);
  for (let i = 0; i < m.count; i++) {
    visitStringOffsets(m, i, (offset) => {
      if (offset >= m.stringsStart) {
        const local = offset - m.stringsStart;
        if (local > 0 && own[local - 1] !== 0) reasons.push(`string offset ${offset} points inside a string`);
        return;
      }
      if (stringMap.has(offset)) return;
      const text = stringAt(a, offset) ?? '';
      const inB = target.bStrings.get(text);
      if (inB === undefined) reasons.push(`base string "${text}" is not in the new base`);
      else stringMap.set(offset, inB);
    });
  }
  if (reasons.length > 0) return refuse();

  // 3. No kept module type has an equal among B's new types.
  if (checked && diff.added > 0) {
    const shapes = Array.from({ length: m.count }, (_, i) => typeShape(m, i));
    const bShapes = new Map<number, ReturnType<typeof typeShape>>();
    const shapeOfB = (j: number) => {
      let shape = bShapes.get(j);
      if (!shape) bShapes.set(j, (shape = typeShape(b, j - 1)));
      return shape;
    };
    const hypothesis = new Map<number, number>();
    const equivalent = (x: number, y: number): boolean => {
      if (x < nA) {
        if (x === 0 || y === 0) return x === y;
        if (diff.classOfA[x] === diff.classOfB[y]) return true;
        // libbpf's relaxation: a FWD is equal to the struct (or union) of its name.
        return kindOf(a, x) === BTF_KIND.FWD && isComposite(kindOf(b, y)) && nameOf(a, x) !== ''
          && nameOf(a, x) === nameOf(b, y) && (kindOf(b, y) === BTF_KIND.UNION) === kflag(a, x);
      }
      if (y === 0) return false;
      const assumed = hypothesis.get(x);
      if (assumed !== undefined) return diff.classOfB[assumed] === diff.classOfB[y];
      hypothesis.set(x, y);
      const index = x - m.firstId;
      if (m.kinds[index] === BTF_KIND.FWD && isComposite(kindOf(b, y))) {
        return nameOf(m, x) === nameOf(b, y) && (kindOf(b, y) === BTF_KIND.UNION) === kflag(m, x);
      }
      const mine = shapes[index]!;
      const theirs = shapeOfB(y);
      if (mine.scalars !== theirs.scalars) return false;
      return mine.refs.every((ref, k) => equivalent(ref, theirs.refs[k]!));
    };
    for (let i = 0; i < m.count; i++) {
      const kind = m.kinds[i];
      if (kind === BTF_KIND.VAR || kind === BTF_KIND.DATASEC) continue;
      for (const candidate of target.newTypesByShape.get(shapes[i]!.scalars) ?? []) {
        hypothesis.clear();
        if (equivalent(m.firstId + i, candidate)) {
          reasons.push(`the new base has an equal of module type ${describeType(m, m.firstId + i)}`);
          break;
        }
      }
    }
    if (reasons.length > 0) return refuse();
  }

  // 4. Types gone from B the module may have deduplicated into A, invisibly.
  if (checked && diff.gone > 0) {
    if (diff.noWitness > 0) return { ok: false, reasons: [`${diff.noWitness} base types are gone with no name to test modules for`] };
    const names = await moduleNames();
    const func = diff.funcWitnesses.find((name) => names.functions.has(name));
    if (func !== undefined) return { ok: false, reasons: [`the module defines ${func}, whose base FUNC is gone or changed`] };
    const witness = diff.witnesses.find((w) => names.strpStrings.has(w) || suffixOfARun(names.reversedRuns, w));
    if (witness !== undefined) return { ok: false, reasons: [`the module's DWARF names ${witness}, a base type that is gone or changed`] };
  }

  // 5. Emit: ids and string offsets rewritten in place, own strings B now holds dropped.
  const ownStart = m.stringsStart;
  const kept: Buffer[] = [];
  let keptLength = 0;
  const bEnd = b.stringsStart + b.stringsLength;
  for (let start = 0; start < own.length;) {
    const end = own.indexOf(0, start);
    const text = own.toString('latin1', start, end);
    const inB = target.bStrings.get(text);
    if (inB !== undefined) {
      stringMap.set(ownStart + start, inB);
    } else {
      stringMap.set(ownStart + start, bEnd + keptLength);
      kept.push(own.subarray(start, end + 1));
      keptLength += end + 1 - start;
    }
    start = end + 1;
  }
  const types = Buffer.from(m.bytes.subarray(m.typesOffset, m.typesOffset + m.typesLength));
  const shift = b.typeCount - nA;
  for (let i = 0; i < m.count; i++) {
    visitTypeIds(m, i, (ref, at) => types.writeUInt32LE(ref < nA ? baseMap.get(ref)! : ref + shift, at - m.typesOffset));
    visitStringOffsets(m, i, (offset, at) => types.writeUInt32LE(stringMap.get(offset)!, at - m.typesOffset));
  }
  return { ok: true, btf: Buffer.concat([encodeBtfHeader(types.length, keptLength), types, ...kept]) };
}
