/**
 * Are two module BTFs the same types, perhaps in another order? pahole 1.24's `-j` orders a
 * multi-CU module's types by thread scheduling, so byte equality is too strict and type ids
 * differ between runs (tests and benchmarks compare against such output).
 *
 * Decided by colour refinement (Weisfeiler-Lehman) over the type graph: each type starts with a
 * label from its own scalars (every field of its record that is neither a type id nor a string
 * offset, plus its names as strings), then repeatedly absorbs its referenced types' labels.
 * References into the base keep their id (the base is the same on both sides), so only the split
 * part is canonicalised. Two BTFs are equal when their multisets of final labels are.
 */
import { createHash } from 'node:crypto';
import { parseBtf, type Btf } from './btf-reader.js';
import { typeShape, type TypeShape } from './btf-shape.js';

function digest(text: string): string {
  return createHash('sha256').update(text).digest('base64');
}

/**
 * Refine labels for `rounds` rounds (or until the partition is stable, when rounds is omitted).
 * Returns the sorted labels and the number of rounds it took to stabilise.
 */
function canonicalTypeLabels(btf: Btf, shapes: readonly TypeShape[], rounds?: number): { labels: string[]; rounds: number } {
  const own = (id: number) => id >= btf.firstId && id < btf.typeCount;
  let labels = shapes.map((shape) => digest(shape.scalars));
  const refLabel = (id: number, current: readonly string[]) => (own(id) ? current[id - btf.firstId]! : `base:${id}`);
  let classes = new Set(labels).size;
  let round = 0;
  while (round < (rounds ?? shapes.length)) {
    const previous = labels;
    labels = shapes.map((shape, i) => digest(`${previous[i]}|${shape.refs.map((id) => refLabel(id, previous)).join(',')}`));
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
  const parsedBase = base ? parseBtf(base) : null;
  const [btfA, btfB] = [parseBtf(a, parsedBase), parseBtf(b, parsedBase)];
  if (btfA.count !== btfB.count) return false;
  const shapesA = Array.from({ length: btfA.count }, (_, i) => typeShape(btfA, i));
  const shapesB = Array.from({ length: btfB.count }, (_, i) => typeShape(btfB, i));
  // Labels are only comparable after the same number of rounds: refine both as far as either needs.
  const rounds = Math.max(canonicalTypeLabels(btfA, shapesA).rounds, canonicalTypeLabels(btfB, shapesB).rounds);
  const labelsA = canonicalTypeLabels(btfA, shapesA, rounds).labels;
  const labelsB = canonicalTypeLabels(btfB, shapesB, rounds).labels;
  return labelsA.every((label, i) => label === labelsB[i]);
}
