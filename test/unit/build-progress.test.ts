/** The progress line fits any terminal width and drops its least useful parts first. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatProgressLine, type ProgressState } from '../../client/build-progress.js';

const STATE: ProgressState = {
  done: 123, total: 1121,
  counts: { fresh: 100, restored: 3, relocated: 0, regenerated: 19, failed: 1 },
  etaSeconds: 95, current: 'nf_conntrack_netlink.ko',
};

test('the progress line fits the terminal and keeps what matters most', () => {
  for (const columns of [20, 40, 60, 80, 100, 200]) {
    const line = formatProgressLine(STATE, columns);
    assert.ok(line.length <= columns - 1, `${columns}: ${line.length} > ${columns - 1}: ${line}`);
  }
  const wide = formatProgressLine(STATE, 200);
  assert.equal(wide, 'btfd build [###---------------------] 123/1121 10%  ETA 1m 35s  100 fresh, 3 restored, 19 regenerated, 1 failed  nf_conntrack_netlink.ko');
  // Narrower: no counts (the summary has them), a shortened module name, a shorter bar; the bar's
  // width depends on the terminal alone, so it does not jitter with module names.
  assert.equal(formatProgressLine(STATE, 80), 'btfd build [##-----------------] 123/1121 10%  ETA 1m 35s  …onntrack_netlink.ko');
  assert.equal(formatProgressLine({ ...STATE, current: 'ah4.ko' }, 80).indexOf(']'), formatProgressLine(STATE, 80).indexOf(']'));
  assert.equal(formatProgressLine(STATE, 60), 'btfd build [#-------] 123/1121 10%  ETA 1m 35s  …netlink.ko');
  assert.equal(formatProgressLine(STATE, 40), 'btfd build [#-------] 123/1121 10%');
  // No ETA before the first module, nor at the end.
  assert.doesNotMatch(formatProgressLine({ ...STATE, done: 0, etaSeconds: null }, 200), /ETA/);
  assert.doesNotMatch(formatProgressLine({ ...STATE, done: 1121 }, 200), /ETA/);
});
