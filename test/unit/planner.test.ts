/** The planner decides from plain values: every branch without a disk or pahole. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decide, describeChanges, type PlanInputs } from '../../daemon/engine/planner.js';

const INPUTS = { recipe: 'r', tool: 't1', flags: '-j', base: 'b1', module: 'm1' };
const PLAN: PlanInputs = {
  path: '/t/a.ko',
  stamp: { dev: 1n, ino: 2n, size: 3n, mtimeNs: 4n, ctimeNs: 5n },
  racy: false,
  inputs: INPUTS,
  key: 'k'.repeat(64),
  outputsDigest: null,
  cached: null,
  related: null,
  previous: null,
};
const CACHED = { artifactDigest: 'a'.repeat(64), outputsDigest: 'o'.repeat(64), costMs: 300, tier: 'local' } as const;
const REMOTE = { ...CACHED, tier: 'remote', size: 10, inputs: { tool: 't1', flags: '-j', base: 'b1', module: 'm1' } } as const;
const previous = (inputs: Record<string, string>) => ({ path: '/t/a.ko', key: 'old', inputs, outcome: 'regenerated', reason: '', updatedMs: 1, checkedMs: 1, errorCode: null });

test('fresh only when the module holds exactly the cached artifact', () => {
  assert.equal(decide({ ...PLAN, cached: CACHED, outputsDigest: CACHED.outputsDigest }).action, 'fresh');
  assert.equal(decide({ ...PLAN, cached: CACHED, outputsDigest: 'x'.repeat(64) }).action, 'restore');
  assert.equal(decide({ ...PLAN, cached: CACHED, outputsDigest: null }).action, 'restore');
  // Matching outputs without a cache entry prove nothing: the key was never stored.
  assert.equal(decide({ ...PLAN, outputsDigest: CACHED.outputsDigest }).action, 'regenerate');
});

test('relocate only on a miss with this module cached on another base', () => {
  const related = { ...CACHED, key: 'r'.repeat(64), base: 'b0'.repeat(32) };
  const plan = decide({ ...PLAN, related, previous: previous({ ...INPUTS, base: 'b0' }) });
  assert.equal(plan.action, 'relocate');
  assert.equal(plan.reason, `not cached (base BTF changed); cached on base ${'b0'.repeat(6)}`);
  assert.equal(decide({ ...PLAN, related, cached: CACHED }).action, 'restore', 'the key itself wins');
});

test('the reason names what changed since the last build', () => {
  assert.equal(decide(PLAN).reason, 'not cached (first build)');
  const before = { ...INPUTS, base: 'b0', flags: '-j4x' };
  assert.deepEqual(describeChanges(previous(before), INPUTS), ['flags changed', 'base BTF changed']);
  assert.equal(decide({ ...PLAN, previous: previous(before) }).reason, 'not cached (flags changed, base BTF changed)');
  assert.equal(decide({ ...PLAN, previous: previous(INPUTS), cached: CACHED }).reason, 'cached (output sections missing or altered)');
  assert.equal(decide({ ...PLAN, cached: REMOTE }).reason, 'cached remotely (first build)', 'a restore says which tier it comes from');
  assert.equal(decide({ ...PLAN, cached: REMOTE, outputsDigest: REMOTE.outputsDigest }).action, 'fresh', 'a remote entry makes a module fresh too');
  // An input the old record did not have (an older btfd) is not reported as changed.
  assert.deepEqual(describeChanges(previous({ module: 'm1' }), INPUTS), []);
});
