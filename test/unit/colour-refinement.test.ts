/**
 * The base diff's colour refinement (incremental: only what moved is looked at again) against the
 * textbook one (every node recomputed each round until the number of classes stops growing), on
 * seeded random graphs shaped like BTF: few starting colours, long reference chains, cycles, and
 * one deep change, the case that takes many rounds.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { refineColours } from '../../daemon/btf/base-diff.js';
import { seededRandom } from '../helpers/seeded-random.js';

/** The textbook refinement: colours renumbered from (colour, successors' colours) every round. */
function referenceRefinement(first: Int32Array, succ: Int32Array, start: Int32Array): Int32Array {
  let colour = Int32Array.from(start);
  let count = new Set(colour).size;
  for (;;) {
    const keys = new Map<string, number>();
    const next = colour.map((c, n) => {
      let key = String(c);
      for (let s = first[n]!; s < first[n + 1]!; s++) key += `,${colour[succ[s]!]}`;
      let k = keys.get(key);
      if (k === undefined) keys.set(key, (k = keys.size));
      return k;
    });
    if (keys.size === count) return colour;
    colour = next;
    count = keys.size;
  }
}

/** True when both colourings put the same nodes together. */
function samePartition(x: Int32Array, y: Int32Array): boolean {
  const forward = new Map<number, number>();
  const backward = new Map<number, number>();
  return x.every((c, n) => {
    const d = y[n]!;
    if ((forward.get(c) ?? d) !== d || (backward.get(d) ?? c) !== c) return false;
    forward.set(c, d);
    backward.set(d, c);
    return true;
  });
}

/**
 * Two copies of one random graph joined (like bases A and B), the second with one node's colour
 * changed: everything that reaches it must split from its twin, however far away.
 */
function twinGraphs(seed: number): { first: Int32Array; succ: Int32Array; colour: Int32Array } {
  const next = seededRandom(seed);
  const half = 20 + Math.floor(next() * 200);
  const refsOf: number[][] = [];
  const colourOf: number[] = [];
  for (let n = 0; n < half; n++) {
    const degree = next() < 0.3 ? 0 : 1 + Math.floor(next() * 3);
    // Mostly references to nearby nodes: long chains, like pointer → struct → member → pointer.
    refsOf.push(Array.from({ length: degree }, () => (next() < 0.8 ? (n + 1 + Math.floor(next() * 3)) % half : Math.floor(next() * half))));
    colourOf.push(Math.floor(next() * 4));
  }
  const changed = Math.floor(next() * half);
  const first = new Int32Array(2 * half + 1);
  const succ: number[] = [];
  const colour = new Int32Array(2 * half);
  for (let copy = 0; copy < 2; copy++) {
    for (let n = 0; n < half; n++) {
      const node = copy * half + n;
      first[node] = succ.length;
      for (const ref of refsOf[n]!) succ.push(copy * half + ref);
      colour[node] = copy === 1 && n === changed && next() < 0.9 ? 4 : colourOf[n]!;
    }
  }
  first[2 * half] = succ.length;
  return { first, succ: Int32Array.from(succ), colour };
}

test('incremental colour refinement partitions exactly as the textbook refinement (500 seeded graphs)', () => {
  let deep = 0;
  for (let seed = 1; seed <= 500; seed++) {
    const { first, succ, colour } = twinGraphs(seed);
    const expected = referenceRefinement(first, succ, colour);
    const got = Int32Array.from(colour);
    const rounds = refineColours(first, succ, got, 5);
    assert.ok(samePartition(got, expected), `seed ${seed}: partitions differ`);
    if (rounds > 10) deep++;
  }
  // The generator must reach the case that matters: changes that take many rounds to settle.
  assert.ok(deep > 20, `only ${deep} graphs needed more than 10 rounds`);
});
