/**
 * Editing a base BTF: the bases a relocation is tested and measured against (another vmlinux
 * whose types were reordered, which gained or lost functions, or whose struct changed), written
 * as raw BTF files that pahole takes as `--btf_base`.
 *
 * A type is held as its record's u32 words with its names as strings; encoding lays the strings
 * out again (first-reference order, as libbpf's dedup does, unless an order is given) and writes
 * libbpf's raw layout: a 24-byte header, the types, the strings.
 */
import { BTF_KIND, encodeBtfHeader, stringAt, type Btf } from '../../daemon/btf/btf-reader.js';
import { visitStringOffsets, visitTypeIds } from '../../daemon/btf/btf-walk.js';
import { seededRandom } from './seeded-random.js';

/** One type, independent of string offsets: record words, which words are ids and names. */
export interface EditableType {
  readonly words: number[];
  /** Indices into `words` that hold type ids. */
  readonly idWords: readonly number[];
  /** Indices into `words` that hold string offsets, with the strings they name. */
  readonly nameWords: readonly { readonly word: number; readonly text: string }[];
}

/** The types of a base (ids 1…), editable. */
export function editableTypes(btf: Btf): EditableType[] {
  if (btf.base) throw new Error('editableTypes takes a base, not split BTF');
  const out: EditableType[] = [];
  for (let i = 0; i < btf.count; i++) {
    const start = btf.recordOffsets[i]!;
    const end = i + 1 < btf.count ? btf.recordOffsets[i + 1]! : btf.typesOffset + btf.typesLength;
    const words: number[] = [];
    for (let at = start; at < end; at += 4) words.push(btf.bytes.readUInt32LE(at));
    const idWords: number[] = [];
    const nameWords: { word: number; text: string }[] = [];
    visitTypeIds(btf, i, (_, at) => idWords.push((at - start) / 4));
    visitStringOffsets(btf, i, (offset, at) => nameWords.push({ word: (at - start) / 4, text: stringAt(btf, offset) ?? '' }));
    out.push({ words, idWords, nameWords });
  }
  return out;
}

/** The same types with every type id passed through `map`. */
export function remapIds(types: readonly EditableType[], map: (id: number) => number): EditableType[] {
  return types.map((t) => {
    const words = [...t.words];
    for (const w of t.idWords) words[w] = map(words[w]!);
    return { ...t, words };
  });
}

/** Strings in first-reference order over the types (the empty string first). */
export function firstReferenceOrder(types: readonly EditableType[]): string[] {
  const order = [''];
  const seen = new Set(order);
  for (const t of types) for (const { text } of t.nameWords) if (!seen.has(text)) { seen.add(text); order.push(text); }
  return order;
}

/** Raw base BTF of `types`, strings laid out in `order` (which must hold every name). */
export function encodeBase(types: readonly EditableType[], order: readonly string[] = firstReferenceOrder(types)): Buffer {
  const offsets = new Map<string, number>();
  const strings: Buffer[] = [];
  let length = 0;
  for (const text of order) {
    if (offsets.has(text)) continue;
    offsets.set(text, length);
    const bytes = Buffer.from(`${text}\0`, 'latin1');
    strings.push(bytes);
    length += bytes.length;
  }
  const typeWords = types.flatMap((t) => {
    const words = [...t.words];
    for (const { word, text } of t.nameWords) {
      const offset = offsets.get(text);
      if (offset === undefined) throw new Error(`string "${text}" missing from the given order`);
      words[word] = offset;
    }
    return words;
  });
  const typeBytes = Buffer.alloc(typeWords.length * 4);
  typeWords.forEach((w, k) => typeBytes.writeUInt32LE(w >>> 0, k * 4));
  return Buffer.concat([encodeBtfHeader(typeBytes.length, length), typeBytes, ...strings]);
}

/** The base with its types in a shuffled order and strings laid out anew: same types, other ids. */
export function permuteBase(btf: Btf, seed: number): Buffer {
  const types = editableTypes(btf);
  const order = types.map((_, i) => i + 1);
  const next = seededRandom(seed);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const newId = new Map<number, number>([[0, 0]]);
  order.forEach((old, k) => newId.set(old, k + 1));
  return encodeBase(remapIds(order.map((old) => types[old - 1]!), (id) => newId.get(id)!));
}

/** Ids of the base's types of a kind and name. */
export function findTypes(btf: Btf, kind: number, name: string): number[] {
  const ids: number[] = [];
  for (let i = 0; i < btf.count; i++) if (btf.kinds[i] === kind && stringAt(btf, btf.nameOffsets[i]!) === name) ids.push(btf.firstId + i);
  return ids;
}

/**
 * The base with new functions inserted in the middle of its types (each a FUNC_PROTO `int
 * (int NAME_arg)` and a FUNC NAME), their names in the middle of its strings: what a vmlinux gains
 * when a function is added to some `.c` file.
 */
export function insertFunctions(btf: Btf, names: readonly string[]): Buffer {
  const types = editableTypes(btf);
  const int = findTypes(btf, BTF_KIND.INT, 'int')[0];
  if (int === undefined) throw new Error('the base has no int');
  const at = Math.floor(types.length / 2);
  const shift = (id: number): number => (id > at ? id + names.length * 2 : id);
  const added: EditableType[] = names.flatMap((name, k) => {
    const protoId = at + 1 + 2 * k;
    return [
      { words: [0, (BTF_KIND.FUNC_PROTO << 24) | 1, int, 0, int], idWords: [2, 4], nameWords: [{ word: 0, text: '' }, { word: 3, text: `${name}_arg` }] },
      { words: [0, (BTF_KIND.FUNC << 24) | 1, protoId], idWords: [], nameWords: [{ word: 0, text: name }] },
    ];
  });
  const out = [...remapIds(types.slice(0, at), shift), ...added, ...remapIds(types.slice(at), shift)];
  const order = firstReferenceOrder(types);
  const middle = Math.floor(order.length / 2);
  order.splice(middle, 0, ...names.flatMap((name) => [name, `${name}_arg`]).filter((s) => !order.includes(s)));
  return encodeBase(out, order);
}

/**
 * The base without `count` functions (picked from its middle third, deterministically), and
 * without their prototypes when nothing else uses them: what a vmlinux loses when functions are
 * inlined away or removed. Strings nothing refers to any more are dropped, the rest keep their order.
 */
export function removeFunctions(btf: Btf, count: number, seed: number): { base: Buffer; removed: string[] } {
  const types = editableTypes(btf);
  const users = new Map<number, number>();
  for (const t of types) for (const w of t.idWords) users.set(t.words[w]!, (users.get(t.words[w]!) ?? 0) + 1);
  const functions = types.map((_, i) => i + 1).filter((id) => btf.kinds[id - 1] === BTF_KIND.FUNC && !users.has(id));
  const middle = functions.slice(Math.floor(functions.length / 3), Math.floor((2 * functions.length) / 3));
  const next = seededRandom(seed);
  const picked = new Set<number>();
  while (picked.size < Math.min(count, middle.length)) picked.add(middle[Math.floor(next() * middle.length)]!);
  const gone = new Set(picked);
  for (const id of picked) {
    const proto = types[id - 1]!.words[2]!;
    if ((users.get(proto) ?? 0) <= [...picked].filter((f) => types[f - 1]!.words[2] === proto).length) gone.add(proto);
  }
  const keep = types.map((_, i) => i + 1).filter((id) => !gone.has(id));
  const newId = new Map<number, number>([[0, 0]]);
  keep.forEach((old, k) => newId.set(old, k + 1));
  const out = remapIds(keep.map((id) => types[id - 1]!), (id) => newId.get(id)!);
  const used = new Set(out.flatMap((t) => t.nameWords.map((n) => n.text)));
  const order = firstReferenceOrder(types).filter((s) => s === '' || used.has(s));
  return { base: encodeBase(out, order), removed: [...picked].map((id) => types[id - 1]!.nameWords[0]!.text) };
}

/**
 * The base with struct NAME grown by an `int NAME_probe` member at its end: a changed struct,
 * which changes every type that reaches it.
 */
export function growStruct(btf: Btf, name: string): Buffer {
  const types = editableTypes(btf);
  const id = findTypes(btf, BTF_KIND.STRUCT, name)[0];
  const int = findTypes(btf, BTF_KIND.INT, 'int')[0];
  if (id === undefined || int === undefined) throw new Error(`the base has no struct ${name} or no int`);
  const t = types[id - 1]!;
  const size = t.words[2]!;
  const member = 'btfd_probe';
  const grown: EditableType = {
    words: [t.words[0]!, t.words[1]! + 1, Math.ceil((size + 4) / 8) * 8, ...t.words.slice(3), 0, int, size * 8],
    idWords: [...t.idWords, t.words.length + 1],
    nameWords: [...t.nameWords, { word: t.words.length, text: member }],
  };
  types[id - 1] = grown;
  const order = firstReferenceOrder(editableTypes(btf));
  order.splice(Math.floor(order.length / 2), 0, member);
  return encodeBase(types, order);
}
