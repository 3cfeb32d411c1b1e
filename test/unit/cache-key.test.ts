import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeArtifact, encodeArtifact, sectionsDigest } from '../../daemon/engine/artifact.js';
import { computeKey, describeKey, type KeyInputs } from '../../daemon/engine/cache-key.js';

const INPUTS: KeyInputs = { recipe: 'r', tool: 't'.repeat(64), flags: '-j', base: 'b'.repeat(64), module: 'm'.repeat(64) };

test('every key input changes the key', () => {
  const key = computeKey(INPUTS);
  assert.match(key, /^[0-9a-f]{64}$/);
  assert.equal(computeKey({ ...INPUTS }), key, 'deterministic');
  for (const name of Object.keys(INPUTS) as (keyof KeyInputs)[]) {
    assert.notEqual(computeKey({ ...INPUTS, [name]: `${INPUTS[name]}x` }), key, `${name} is keyed`);
  }
});

test('the encoding is length-prefixed: moving a boundary between fields changes the key', () => {
  const a = computeKey({ ...INPUTS, recipe: 'ab', tool: 'c' });
  const b = computeKey({ ...INPUTS, recipe: 'a', tool: 'bc' });
  assert.notEqual(a, b);
});

test('describeKey lists the inputs in key order with their digests', () => {
  const described = describeKey(INPUTS);
  assert.deepEqual(described.map((i) => i.name), ['schema', 'recipe', 'tool', 'flags', 'base', 'module']);
  assert.equal(described.find((i) => i.name === 'base')!.digest, INPUTS.base);
});

test('artifacts round-trip with their inputs, are order-independent, and reject corruption', () => {
  const sections = new Map([['.BTF', Buffer.from([1, 2, 3])], ['.BTF.base', Buffer.from('base')], ['.BTF_ids', Buffer.alloc(8)]]);
  const reversed = new Map([...sections].reverse());
  const encoded = encodeArtifact({ inputs: INPUTS, sections });
  assert.deepEqual(encodeArtifact({ inputs: INPUTS, sections: reversed }), encoded);
  assert.deepEqual(decodeArtifact(encoded), { inputs: INPUTS, sections });
  assert.equal(sectionsDigest(new Map()), null);
  assert.equal(sectionsDigest(sections), sectionsDigest(reversed));
  assert.notEqual(sectionsDigest(sections), sectionsDigest(new Map([...sections].slice(0, 2))));
  // The inputs are part of the blob: the same sections made from another base are another blob.
  assert.notDeepEqual(encodeArtifact({ inputs: { ...INPUTS, base: 'other' }, sections }), encoded);
  assert.throws(() => decodeArtifact(encodeArtifact({ inputs: INPUTS, sections: new Map([['.BTF.base', Buffer.alloc(1)]]) })), { code: 'BTFD_ERR_CACHE_CORRUPT' });
  assert.throws(() => decodeArtifact(encoded.subarray(0, encoded.length - 1)), { code: 'BTFD_ERR_CACHE_CORRUPT' });
  assert.throws(() => decodeArtifact(Buffer.concat([encoded, Buffer.from([0])])), { code: 'BTFD_ERR_CACHE_CORRUPT' });
  assert.throws(() => decodeArtifact(Buffer.from('NOTANARTIFACT')), { code: 'BTFD_ERR_CACHE_CORRUPT' });
});
