/**
 * What two bases A and B have in common, type by type: the part of relocating module BTF from A
 * to B that does not depend on the module, computed once per pair of bases.
 *
 * Every type of A and B gets a class such that two types share a class exactly when their whole
 * reachable type graphs are identical (same shapes, and reference by reference types of the same
 * class): colour refinement over the joint graph A ∪ B until the partition is stable. For BTF,
 * whose types have ordered successors, that is bisimilarity — what libbpf's dedup decides when it
 * compares two complete graphs (its FWD relaxations are handled by the relocation).
 *
 * From the classes: for each class, B's one member (or none, or several); which classes A has;
 * D, the A types with no equal in B (gone or changed); N, the B types with no equal in A (new);
 * the struct/union names whose count differs (libbpf resolves a FWD to the one struct of its name);
 * and witnesses for D: names a module's DWARF or symbol table must contain if its types were
 * deduplicated into a D type, which is invisible in its cached BTF (see relocate.ts).
 *
 * Typed arrays live in SharedArrayBuffers, so worker threads share one diff instead of copies.
 */
import { BTF_KIND, stringAt, type Btf } from './btf-reader.js';
import { typeShape } from './btf-shape.js';
import { visitStringOffsets } from './btf-walk.js';

/** No B type has the class. */
export const NO_MEMBER = 0;
/** Several B types have the class: which one libbpf would pick is hash-bucket order. */
export const AMBIGUOUS = -1;

export interface BaseDiff {
  /** Class of each A type, by A id (0: void). */
  readonly classOfA: Int32Array;
  /** Class of each B type, by B id (0: void). */
  readonly classOfB: Int32Array;
  /** For each class: its one B type, {@link NO_MEMBER} or {@link AMBIGUOUS}. */
  readonly bOfClass: Int32Array;
  /** For each class: 1 when an A type has it. */
  readonly aHasClass: Uint8Array;
  /** Struct/union names whose number of structs (or unions) differs between A and B. */
  readonly suChanged: readonly string[];
  /** Names whose presence in a module's DWARF strings means it may have held a D type. */
  readonly witnesses: readonly string[];
  /** Names of D functions: a module defining one may have had its FUNC deduplicated into A. */
  readonly funcWitnesses: readonly string[];
  /** D types no witness name was found for: relocation must refuse every module then. */
  readonly noWitness: number;
  /** |D| and |N|. */
  readonly gone: number;
  readonly added: number;
  /** Refinement rounds until the partition was stable, and the time it all took. */
  readonly rounds: number;
  readonly ms: number;
}

function sharedInt32(length: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(Math.max(1, length) * 4));
}

/** Joint classes of A's and B's types; node 0 is void, A id i is node i, B id j is node nA − 1 + j. */
function jointClasses(a: Btf, b: Btf): { classOfA: Int32Array; classOfB: Int32Array; classes: number; rounds: number } {
  const nA = a.typeCount;
  const nodes = nA + b.typeCount - 1;
  const bOffset = nA - 1;
  // Successors flattened: node v's refs are succ[first[v] .. first[v + 1]).
  const first = new Int32Array(nodes + 1);
  const succList: number[] = [];
  const intern = new Map<string, number>();
  const colour = new Int32Array(nodes);
  intern.set('\u0000void', 0);
  let v = 1;
  for (const [btf, offset] of [[a, 0], [b, bOffset]] as const) {
    for (let i = 0; i < btf.count; i++, v++) {
      const shape = typeShape(btf, i);
      first[v] = succList.length;
      for (const ref of shape.refs) succList.push(ref === 0 ? 0 : ref + offset);
      let c = intern.get(shape.scalars);
      if (c === undefined) intern.set(shape.scalars, (c = intern.size));
      colour[v] = c;
    }
  }
  first[nodes] = succList.length;
  const succ = Int32Array.from(succList);
  const rounds = refineColours(first, succ, colour, intern.size);
  // Dense class numbers.
  const dense = new Map<number, number>();
  const classOfA = sharedInt32(nA);
  const classOfB = sharedInt32(b.typeCount);
  for (let n = 0; n < nodes; n++) {
    let c = dense.get(colour[n]!);
    if (c === undefined) dense.set(colour[n]!, (c = dense.size));
    if (n < nA) classOfA[n] = c;
    if (n === 0) classOfB[0] = c;
    else if (n >= nA) classOfB[n - bOffset] = c;
  }
  return { classOfA, classOfB, classes: dense.size, rounds };
}

/**
 * Refine `colour` (in place) until stable: two nodes end with one colour exactly when they started
 * with one and their successors, position by position, have equal colours too. The graph is
 * flattened: node v's successors are succ[first[v] .. first[v + 1]); `colours` bounds the starting
 * colours. Returns the rounds it took.
 *
 * Incremental (the classic partition-refinement trick): when a class splits, one part keeps its
 * colour and the others get new ones, so only the predecessors of nodes whose colour changed can
 * split next round. A change deep in a vmlinux (`sk_buff`) takes ~36 rounds to settle; recomputing
 * every node each round cost 30+ s, this costs what actually moves (~3 s in all).
 */
export function refineColours(first: Int32Array, succ: Int32Array, colour: Int32Array, colours: number): number {
  const nodes = colour.length;
  const preds = predecessors(first, succ, nodes);
  const classSize = new Int32Array(nodes + colours);
  for (let n = 0; n < nodes; n++) classSize[colour[n]!]!++;

  // Round 1 looks at every node with successors; later rounds at the predecessors of what moved.
  let dirty: number[] = [];
  for (let n = 0; n < nodes; n++) if (first[n] !== first[n + 1]) dirty.push(n);
  let rounds = 0;
  while (dirty.length > 0) {
    rounds++;
    // Group the dirty nodes by (colour, successors' colours), then each colour by its groups.
    const groups = new Map<string, number[]>();
    for (const n of dirty) {
      let key = String(colour[n]);
      for (let s = first[n]!; s < first[n + 1]!; s++) key += `,${colour[succ[s]!]}`;
      const group = groups.get(key);
      if (group) group.push(n);
      else groups.set(key, [n]);
    }
    const byColour = new Map<number, number[][]>();
    for (const group of groups.values()) {
      const c = colour[group[0]!]!;
      const list = byColour.get(c);
      if (list) list.push(group);
      else byColour.set(c, [group]);
    }
    const moved: number[] = [];
    for (const [c, list] of byColour) {
      const dirtyMembers = list.reduce((sum, group) => sum + group.length, 0);
      // Members not looked at keep colour c (their successors kept theirs); when every member was
      // looked at, the largest group keeps it. Every other group is a new class.
      let keep = -1;
      if (dirtyMembers === classSize[c]) {
        keep = 0;
        for (let g = 1; g < list.length; g++) if (list[g]!.length > list[keep]!.length) keep = g;
      }
      list.forEach((group, g) => {
        if (g === keep) return;
        const fresh = colours++;
        for (const n of group) {
          colour[n] = fresh;
          moved.push(n);
        }
        classSize[c]! -= group.length;
        classSize[fresh] = group.length;
      });
    }
    const next = new Set<number>();
    for (const n of moved) for (let p = preds.first[n]!; p < preds.first[n + 1]!; p++) next.add(preds.list[p]!);
    dirty = [...next];
  }
  return rounds;
}

/** The reverse of a flattened successor list: node v's predecessors are list[first[v] .. first[v + 1]). */
function predecessors(first: Int32Array, succ: Int32Array, nodes: number): { first: Int32Array; list: Int32Array } {
  const count = new Int32Array(nodes + 1);
  for (let s = 0; s < succ.length; s++) count[succ[s]! + 1]!++;
  for (let n = 0; n < nodes; n++) count[n + 1]! += count[n]!;
  const list = new Int32Array(succ.length);
  const fill = count.slice(0, nodes);
  for (let n = 0; n < nodes; n++) {
    for (let s = first[n]!; s < first[n + 1]!; s++) list[fill[succ[s]!]!++] = n;
  }
  return { first: count, list };
}

/** (kind, name) → count, for the named structs and unions of a BTF. */
function structNameCounts(btf: Btf): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < btf.count; i++) {
    const kind = btf.kinds[i];
    if (kind !== BTF_KIND.STRUCT && kind !== BTF_KIND.UNION) continue;
    const key = `${kind}:${stringAt(btf, btf.nameOffsets[i]!) ?? ''}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/**
 * A name that must occur in a module's DWARF if its pre-dedup types held a full copy of D type
 * `id`: the nearest named type in D that `id` reaches (a copy of `id` holds copies of all it
 * reaches, and what lies between `id` and the change is in D too), else a member name; undefined
 * when none is known.
 */
function witnessOf(a: Btf, id: number, inD: (id: number) => boolean, refsOf: (id: number) => readonly number[]): string | undefined {
  const seen = new Set([id]);
  let frontier = [id];
  while (frontier.length > 0) {
    const next: number[] = [];
    for (const v of frontier) {
      const name = stringAt(a, a.nameOffsets[v - a.firstId]!);
      if (name) return name;
      for (const r of refsOf(v)) {
        if (r !== 0 && inD(r) && !seen.has(r)) {
          seen.add(r);
          next.push(r);
        }
      }
    }
    frontier = next;
  }
  return memberNames(a, id - a.firstId).find((name) => name !== '');
}

/** The member, enumerator or parameter names of own type `index` (its own name left out). */
function memberNames(btf: Btf, index: number): string[] {
  const names: string[] = [];
  visitStringOffsets(btf, index, (offset) => names.push(stringAt(btf, offset) ?? ''));
  return names.slice(1);
}

/** Compare two bases (both parsed as bases, not split). */
export function computeBaseDiff(a: Btf, b: Btf): BaseDiff {
  const started = performance.now();
  const { classOfA, classOfB, classes, rounds } = jointClasses(a, b);
  const bOfClass = sharedInt32(classes);
  const aHasClass = new Uint8Array(new SharedArrayBuffer(Math.max(1, classes)));
  for (let j = 1; j < b.typeCount; j++) {
    const c = classOfB[j]!;
    bOfClass[c] = bOfClass[c] === NO_MEMBER ? j : AMBIGUOUS;
  }
  for (let i = 1; i < a.typeCount; i++) aHasClass[classOfA[i]!] = 1;
  const inD = (id: number): boolean => id > 0 && bOfClass[classOfA[id]!] === NO_MEMBER;
  let gone = 0;
  let added = 0;
  for (let j = 1; j < b.typeCount; j++) if (!aHasClass[classOfB[j]!]) added++;

  const countsA = structNameCounts(a);
  const countsB = structNameCounts(b);
  const suChanged = new Set<string>();
  for (const key of new Set([...countsA.keys(), ...countsB.keys()])) {
    if ((countsA.get(key) ?? 0) !== (countsB.get(key) ?? 0)) suChanged.add(key.slice(key.indexOf(':') + 1));
  }

  const refsOf = (id: number): readonly number[] => typeShape(a, id - 1).refs;
  const witnesses = new Set<string>();
  const funcWitnesses = new Set<string>();
  let noWitness = 0;
  for (let i = 1; i < a.typeCount; i++) {
    if (!inD(i)) continue;
    gone++;
    const kind = a.kinds[i - 1];
    if (kind === BTF_KIND.FUNC) {
      // pahole emits a FUNC only for a function the module defines: its symbol table says.
      funcWitnesses.add(stringAt(a, a.nameOffsets[i - 1]!) ?? '');
      continue;
    }
    if (kind === BTF_KIND.FUNC_PROTO && memberNames(a, i - 1).some((name) => name !== '')) {
      // A prototype with parameter names comes only with its function's FUNC, witnessed above.
      continue;
    }
    const witness = witnessOf(a, i, inD, refsOf);
    if (witness === undefined) noWitness++;
    else witnesses.add(witness);
  }
  return {
    classOfA, classOfB, bOfClass, aHasClass,
    suChanged: [...suChanged].sort(),
    witnesses: [...witnesses].sort(),
    funcWitnesses: [...funcWitnesses].sort(),
    noWitness, gone, added, rounds,
    ms: Math.round(performance.now() - started),
  };
}
