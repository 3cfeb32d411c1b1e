/**
 * The remote tier's parts that decide on plain values: the circuit breaker (with a clock of its
 * own), the upload queue's bounds and drain deadline, the action entry format and the salt.
 * The backends themselves are tested against real servers (test/integration/remote-*.test.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BREAKER_COOLDOWN_MS, createCircuitBreaker, FAILURES_TO_OPEN, withCircuitBreaker } from '../../daemon/store/remote/circuit-breaker.js';
import { readOnlyBackend } from '../../daemon/store/remote/read-only.js';
import { remoteCall, remoteFailure, remoteOk, type RemoteBackend, type RemoteResult } from '../../daemon/store/remote/remote-backend.js';
import { decodeRemoteEntry, encodeRemoteEntry, remoteActionKey } from '../../daemon/store/remote/remote-tier.js';
import { createUploadQueue } from '../../daemon/store/remote/upload-queue.js';

const FAIL = remoteFailure('BTFD_ERR_REMOTE_UNREACHABLE', 'connect ECONNREFUSED');
const D = (c: string) => c.repeat(64);

test('the breaker opens after repeated failures, probes once after the cooldown, and closes on success', () => {
  let now = 1_000;
  const changes: string[] = [];
  const breaker = createCircuitBreaker({ now: () => now, onChange: (s) => changes.push(s.state) });
  for (let i = 1; i < FAILURES_TO_OPEN; i++) breaker.admit()!.settle(FAIL);
  breaker.admit()!.settle(remoteOk(null));
  assert.equal(breaker.snapshot().failures, 0, 'a miss is a success: the count starts over');
  for (let i = 0; i < FAILURES_TO_OPEN; i++) breaker.admit()!.settle(FAIL);
  assert.deepEqual([breaker.snapshot().state, breaker.snapshot().retryAtMs], ['open', now + BREAKER_COOLDOWN_MS]);
  assert.equal(breaker.admit(), null, 'open: skipped');
  assert.deepEqual(breaker.snapshot().lastError, { code: 'BTFD_ERR_REMOTE_UNREACHABLE', message: 'connect ECONNREFUSED', atMs: 1_000 });

  now += BREAKER_COOLDOWN_MS;
  const probe = breaker.admit();
  assert.ok(probe, 'after the cooldown one probe goes out');
  assert.equal(breaker.admit(), null, 'and only one');
  probe.settle(FAIL);
  assert.deepEqual([breaker.snapshot().state, breaker.snapshot().retryAtMs], ['open', now + BREAKER_COOLDOWN_MS], 'a failed probe opens it again');
  now += BREAKER_COOLDOWN_MS;
  breaker.admit()!.settle(remoteOk(true));
  assert.equal(breaker.snapshot().state, 'closed');
  assert.deepEqual(changes, ['open', 'half-open', 'open', 'half-open', 'closed']);
});

test('behind an open breaker requests never reach the backend; read-only refuses writes unsent', async () => {
  const sent: string[] = [];
  const backend: RemoteBackend = {
    kind: 'http', location: 'http://cache', writable: true,
    get: async (ns, hash) => { sent.push(`get ${ns}/${hash}`); return FAIL; },
    put: async (ns, hash) => { sent.push(`put ${ns}/${hash}`); return remoteOk(undefined); },
    has: async (ns, hash) => { sent.push(`has ${ns}/${hash}`); return remoteOk(true); },
    close: async () => undefined,
  };
  const guarded = withCircuitBreaker(backend, createCircuitBreaker());
  for (let i = 0; i < FAILURES_TO_OPEN; i++) await guarded.get('ac', D('a'));
  const skipped = await guarded.get('ac', D('a'));
  assert.equal(skipped.ok ? null : skipped.code, 'BTFD_ERR_REMOTE_UNAVAILABLE');
  assert.equal(sent.length, FAILURES_TO_OPEN);

  const readOnly = readOnlyBackend(backend);
  const put = await readOnly.put('cas', D('b'), Buffer.from('x'));
  assert.deepEqual([readOnly.writable, put.ok ? null : put.code], [false, 'BTFD_ERR_REMOTE_READ_ONLY']);
  assert.ok(!sent.some((line) => line.startsWith('put')), 'nothing was sent');
  assert.ok((await readOnly.has('cas', D('b'))).ok, 'reads go through');
});

test('remoteCall turns a throw into a failure value and a hang into a timeout, on time', async () => {
  const classify = (err: unknown) => remoteFailure('BTFD_ERR_REMOTE_FAILED', String(err));
  const thrown = await remoteCall('GET x', 1000, async () => { throw new Error('boom'); }, classify);
  assert.deepEqual(thrown, { ok: false, code: 'BTFD_ERR_REMOTE_FAILED', message: 'Error: boom' });
  const started = performance.now();
  let aborted = false;
  const hung: RemoteResult<never> = await remoteCall('GET y', 100, (signal) => {
    signal.addEventListener('abort', () => { aborted = true; });
    return new Promise<never>(() => undefined);
  }, classify);
  const ms = performance.now() - started;
  assert.equal(hung.ok ? null : hung.code, 'BTFD_ERR_REMOTE_TIMEOUT');
  assert.ok(ms >= 95 && ms < 1000, `answered after ${ms} ms`);
  assert.ok(aborted, 'the request was told to stop');
});

test('uploads: bounded concurrency, dropped beyond the byte budget, drain waits and its deadline abandons the rest', async () => {
  const queue = createUploadQueue({ concurrency: 2, maxPendingBytes: 100 });
  const releases: (() => void)[] = [];
  let running = 0;
  let most = 0;
  const job = () => () => new Promise<boolean>((resolve) => {
    running++;
    most = Math.max(most, running);
    releases.push(() => { running--; resolve(true); });
  });
  for (let i = 0; i < 4; i++) assert.ok(queue.enqueue(40, job()));
  assert.equal(queue.enqueue(40, job()), false, 'over the budget of waiting bytes: dropped');
  assert.deepEqual(queue.stats(), { queued: 2, running: 2, done: 0, failed: 0, dropped: 1 });

  const drained = queue.drain(5_000);
  assert.equal(queue.enqueue(1, job()), false, 'no new uploads once draining');
  while (releases.length > 0 || running > 0) {
    releases.shift()?.();
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.equal(await drained, true);
  assert.equal(most, 2);
  assert.deepEqual(queue.stats(), { queued: 0, running: 0, done: 4, failed: 0, dropped: 2 });

  const stuck = createUploadQueue({ concurrency: 1, maxPendingBytes: 100 });
  stuck.enqueue(1, () => new Promise<boolean>(() => undefined));
  stuck.enqueue(1, async () => true);
  const started = performance.now();
  assert.equal(await stuck.drain(100), false, 'a hung upload cannot hold shutdown past the deadline');
  assert.ok(performance.now() - started < 1000);
  assert.deepEqual(stuck.stats(), { queued: 0, running: 1, done: 0, failed: 0, dropped: 1 });
});

test('action entries round-trip; anything malformed is no entry; the salt changes every key', () => {
  const meta = { outputsDigest: D('0'), costMs: 152.4, inputs: { tool: D('1'), flags: '--btf_gen_floats', base: D('b'), module: D('2') } };
  const entry = encodeRemoteEntry(D('a'), 1234, meta);
  assert.deepEqual(decodeRemoteEntry(entry), { artifactDigest: D('a'), outputsDigest: D('0'), costMs: 152, size: 1234, inputs: meta.inputs });
  const json = JSON.parse(entry.toString()) as Record<string, unknown>;
  for (const broken of [
    Buffer.from('not json'), Buffer.from('null'), Buffer.from('[]'),
    Buffer.from(JSON.stringify({ ...json, format: 'other' })),
    Buffer.from(JSON.stringify({ ...json, artifact: '../../etc/passwd' })),
    Buffer.from(JSON.stringify({ ...json, size: -1 })),
    Buffer.from(JSON.stringify({ ...json, costMs: 'x' })),
    Buffer.from(JSON.stringify({ ...json, inputs: { tool: 1 } })),
    Buffer.alloc(70_000, 0x20),
  ]) assert.equal(decodeRemoteEntry(broken), null, broken.subarray(0, 60).toString());

  const key = D('3');
  assert.equal(remoteActionKey(key, ''), key, 'no salt: the key itself');
  const salted = remoteActionKey(key, 'team-a');
  assert.match(salted, /^[0-9a-f]{64}$/, 'still a sha256 (bazel-remote checks)');
  assert.notEqual(salted, key);
  assert.notEqual(remoteActionKey(key, 'team-b'), salted);
});
