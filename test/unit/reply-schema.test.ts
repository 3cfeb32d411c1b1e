/**
 * The reply schemas the daemon serializes with (daemon/server/reply-schema.ts): the same JSON as
 * fast-json-stringify writes from the protocol's own schemas, for values with and without their
 * nulls, and no union left that would need ajv.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import SerializerSelector from '@fastify/fast-json-stringify-compiler';
import { replySchema } from '../../daemon/server/reply-schema.js';
import type { BuildReport, CacheStats, ModuleResult, TreeBuild, TreeStatus } from '../../shared/build-types.js';
import { BuildResponse } from '../../shared/protocol/build.js';
import { CacheStatsResponse } from '../../shared/protocol/cache-stats.js';
import { StatusResponse } from '../../shared/protocol/status.js';
import { WatchResponse } from '../../shared/protocol/watch.js';

const serializer = SerializerSelector()();
const serialize = (schema: unknown, value: unknown): string => serializer({ schema, method: 'GET', url: '/test', httpStatus: '200' })(value);

const failure: ModuleResult = {
  path: '/t/b.ko', outcome: 'failed', reason: 'pahole failed', ms: 12,
  error: { code: 'BTFD_ERR_TOOL_PAHOLE_FAILED', message: 'pahole exited with 1', next: 'run it by hand' },
};
const report: BuildReport = {
  dir: '/t', base: '/t/vmlinux', flags: '-j', pahole: { path: '/usr/bin/pahole', version: 'v1.24' }, modules: 2,
  fresh: 1, restored: 0, relocated: 0, regenerated: 0, failed: 1, seconds: 0.5, failures: [failure],
  results: [{ path: '/t/a.ko', outcome: 'fresh', reason: 'unchanged', ms: 1 }, failure],
};
const { results: _results, ...summary } = report;
const build: TreeBuild = { ...summary, atMs: 1_700_000_000_000, trigger: 'modules changed' };
const tree: TreeStatus = {
  dir: '/t', base: '/t/vmlinux', flags: '-j', pahole: null, ready: true, building: false, missing: false, events: 3, errors: 0,
  lastBuild: build, lastPass: null, lastError: { code: 'BTFD_ERR_TREE_NOT_FOUND', message: 'gone' },
};
const stats: CacheStats = {
  entries: 3, blobs: 3, bytes: 4096, maxBytes: 1 << 30, hits: 5, misses: 2, relocated: 0, hitRate: null, savedMs: 1200, files: 7, corrupt: 0, missing: 1,
  tiers: [{ tier: 'remote', hits: 2, misses: 2, errors: 5, skipped: 7, corrupt: 1, bytesRead: 200, bytesWritten: 100 }],
  remote: {
    kind: 'redis', location: 'redis://cache:6379', readOnly: false, salted: false, timeoutMs: 2000,
    breaker: { state: 'half-open', failures: 5, retryAtMs: null, lastError: null },
    uploads: { queued: 1, running: 2, done: 3, failed: 4, dropped: 5 },
  },
};
const status = {
  pid: 1, daemonVersion: '0.1.0', protocolVersion: 2, uptimeSeconds: 1.5, socketPath: '/s', logPath: '/l', cacheDir: '/c', warming: true,
  reconcileMs: null, idleTimeoutMs: 0, cache: stats,
  pahole: { name: 'pahole', path: null, version: null, error: { code: 'BTFD_ERR_TOOL_PAHOLE_MISSING', message: 'not found' } },
  trees: [tree, { ...tree, lastBuild: null, lastPass: build, lastError: null, flags: null, pahole: '/usr/bin/pahole' }],
  modules: { fresh: 1, failed: 1 }, pool: { size: 2, busy: 0, queued: 0 }, eventSubscribers: 0,
  health: { log: { written: 10, dropped: 0, suppressed: 0, lastError: null }, storeRecovery: { movedTo: '/c/x', code: 'SQLITE_CORRUPT', reason: 'bad', atMs: 5 } },
};

test('reply schemas serialize every value as the protocol schemas do, nulls included', () => {
  const cases: [string, unknown, unknown][] = [
    ['status', StatusResponse, status],
    ['status, nothing optional set', StatusResponse, { ...status, reconcileMs: 12, cache: null, cacheError: 'locked', pahole: { name: 'p', path: '/p', version: 'v1.24', error: null }, health: { log: null, storeRecovery: null } }],
    ['build report', BuildResponse, report],
    ['cache stats without a remote', CacheStatsResponse, { ...stats, hitRate: 0.5, remote: null }],
    ['watch', WatchResponse, { ...tree, replaced: { base: null, flags: '-j', pahole: null } }],
    ['watch, nothing replaced', WatchResponse, { ...tree, replaced: null }],
  ];
  for (const [name, schema, value] of cases) {
    const expected = serialize(schema, value);
    assert.equal(serialize(replySchema(schema), value), expected, name);
    assert.deepEqual(JSON.parse(expected), value, `${name}: the sample is a valid value`);
  }
});

test('reply schemas keep no union of a type and null or of string literals; the input is untouched', () => {
  const before = JSON.stringify(StatusResponse);
  const rewritten = JSON.stringify(replySchema(StatusResponse));
  assert.equal(JSON.stringify(StatusResponse), before);
  assert.ok(before.includes('"anyOf"'));
  assert.ok(!rewritten.includes('"anyOf"'), rewritten);
  // A union of anything else is left to fast-json-stringify.
  const other = { anyOf: [{ type: 'string' }, { type: 'integer' }] };
  assert.deepEqual(replySchema(other), other);
});
