/**
 * Route tests: buildApp() with a fake engine and a plain runtime, driven with app.inject().
 * They check the JSON shapes, schema validation, the one error shape, and NDJSON streaming.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { asEngine } from '../helpers/fake-engine.js';
import { test, type TestContext } from 'node:test';
import { pino } from 'pino';
import { createEventBus } from '../../daemon/events/event-bus.js';
import { createWatchManager, type WatchEvent } from '../../daemon/watch/watch-manager.js';
import { buildApp, type DaemonRuntime } from '../../daemon/app.js';
import type { Engine } from '../../daemon/engine/engine.js';
import type { SchemaCompilation } from '../../daemon/server/schema-compilers.js';
import type { CacheAdmin } from '../../daemon/store/cache-admin.js';
import type { TreeRegistry } from '../../daemon/store/tree-registry.js';
import type { BuildEvent, BuildReport, BuildRequest, CacheStats, ModuleResult } from '../../shared/build-types.js';
import { resolveConfig, type Config } from '../../shared/config.js';
import { BtfdError, ERROR_CATALOG } from '../../shared/errors.js';
import { DAEMON_VERSION, PROTOCOL_VERSION } from '../../shared/version.js';

const STATS: CacheStats = {
  entries: 3, blobs: 3, bytes: 4096, maxBytes: 1 << 30, hits: 5, misses: 2, relocated: 0, hitRate: 5 / 7, savedMs: 1200, files: 7, corrupt: 0, missing: 1,
  tiers: [
    { tier: 'local', hits: 3, misses: 4, errors: 1, skipped: 0, corrupt: 0, bytesRead: 300, bytesWritten: 500 },
    { tier: 'remote', hits: 2, misses: 2, errors: 5, skipped: 7, corrupt: 1, bytesRead: 200, bytesWritten: 100 },
  ],
  // Every field of the remote's status survives the response schema (an open breaker included).
  remote: {
    kind: 'http', location: 'https://cache.example:8443/btfd', readOnly: true, salted: true, timeoutMs: 2000,
    breaker: { state: 'open', failures: 5, retryAtMs: 1_700_000_030_000, lastError: { code: 'BTFD_ERR_REMOTE_TIMEOUT', message: 'GET …: no answer within 2000 ms', atMs: 1_700_000_000_000 } },
    uploads: { queued: 1, running: 2, done: 3, failed: 4, dropped: 5 },
  },
};

function report(request: BuildRequest, results: ModuleResult[]): BuildReport {
  return {
    dir: request.dir, base: `${request.dir}/vmlinux`, flags: '-j', pahole: { path: '/usr/bin/pahole', version: 'v1.24' }, modules: results.length,
    fresh: results.filter((r) => r.outcome === 'fresh').length, restored: 0, relocated: 0, regenerated: 0,
    failed: results.filter((r) => r.outcome === 'failed').length, seconds: 0.5,
    failures: results.filter((r) => r.outcome === 'failed'), results,
  };
}


/** A fake engine recording calls; each method can be replaced per test. */
function fakeEngine(overrides: Partial<Engine> = {}): Engine & { calls: string[] } {
  const calls: string[] = [];
  const methods: Partial<Engine> = {
    async build(request, options) {
      const onEvent = options?.onEvent;
      calls.push(`build ${request.dir}`);
      const result: ModuleResult = { path: `${request.dir}/a.ko`, outcome: 'fresh', reason: 'unchanged', ms: 1 };
      onEvent?.({ type: 'planned', total: 1, fresh: 1, restore: 0, relocate: 0, regenerate: 0 });
      onEvent?.({ type: 'module', result, done: 1, total: 1 });
      return report(request, [result]);
    },
    async explain(modulePath, options) {
      calls.push(`explain ${modulePath} ${options?.base ?? '-'}`);
      return { path: modulePath, key: 'k'.repeat(64), inputs: [{ name: 'module', value: modulePath, digest: 'd' }], verdict: 'restore', reason: 'cached', cached: true };
    },
    async listModules(dir) {
      calls.push(`modules ${dir ?? '*'}`);
      return [{ path: '/t/a.ko', outcome: 'fresh', reason: 'unchanged', updatedMs: 1, checkedMs: 2 }];
    },
    poolStats: () => ({ size: 3, busy: 1, queued: 0 }),
    paholeInfo: async () => ({ path: '/usr/bin/pahole', version: 'v1.24' }),
    isOwnWrite: async () => false,
    async close() {},
    ...overrides,
  };
  return Object.assign(asEngine(methods), { calls });
}

/** A fake cache admin recording its calls beside the engine's; gc's default is the configured 2 GiB. */
function fakeCache(calls: string[]): CacheAdmin {
  return {
    stats: () => STATS,
    zeroStats() {
      calls.push('zero');
      return STATS;
    },
    gc(maxBytes) {
      calls.push(`gc ${maxBytes ?? 2 * 1024 ** 3}`);
      return { removedEntries: 1, removedBytes: 10 };
    },
    verify: () => ({ checked: 3, corrupt: [], missing: ['x'], orphans: 0 }),
    clear() {
      calls.push('clear');
    },
  };
}

interface Harness {
  readonly config: Config;
  readonly runtime: DaemonRuntime & { stops: number; active: number; closing: boolean };
  readonly app: ReturnType<typeof buildApp>;
}

function harness(
  t: TestContext, engine: Engine & { calls?: string[] }, cache: CacheAdmin = fakeCache(engine.calls ?? []), schemaCompilation?: SchemaCompilation,
): Harness {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'btfd-'));
  t.after(() => fs.rmSync(home, { recursive: true, force: true }));
  const config = resolveConfig({ env: { BTFD_HOME: home }, flags: { workers: 3 }, file: null });
  const runtime = {
    pid: 4242,
    startedAtMs: 1_000,
    stops: 0,
    active: 0,
    closing: false,
    warming: () => true,
    reconcileMs: () => null,
    shuttingDown: () => runtime.closing,
    requestStop: () => { runtime.stops += 1; },
    activity: {
      begin: () => { runtime.active += 1; },
      end: () => { runtime.active -= 1; },
      effectiveTimeoutMs: () => 60_000,
    },
  };
  const logger = pino({ level: 'silent' });
  const events = createEventBus<WatchEvent>();
  const registry = { put: () => undefined, recordBuild: () => undefined, remove: () => false, list: () => [] } satisfies TreeRegistry;
  const watch = createWatchManager({ engine, registry, logger, settleMs: 50, rescanMs: 0, ignoredDirs: [], publish: (e) => events.publish(e) });
  const app = buildApp({ config, engine, cache, watch, events, logger, runtime, now: () => 11_000, ...(schemaCompilation ? { schemaCompilation } : {}) });
  t.after(() => app.close());
  return { config, runtime, app };
}

function assertErrorShape(body: unknown, code: keyof typeof ERROR_CATALOG, statusCode: number): void {
  const error = body as Record<string, unknown>;
  assert.deepEqual(Object.keys(error).sort(), ['code', 'error', 'message', 'next', 'statusCode']);
  assert.equal(error['code'], code);
  assert.equal(error['statusCode'], statusCode);
  assert.equal(error['next'], ERROR_CATALOG[code].next);
  assert.equal(typeof error['message'], 'string');
  assert.notEqual(error['message'], '');
}

test('GET /v1/hello answers the handshake identity', async (t) => {
  const { app, config } = harness(t, fakeEngine());
  const res = await app.inject({ method: 'GET', url: '/v1/hello' });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), {
    protocolVersion: PROTOCOL_VERSION, daemonVersion: DAEMON_VERSION, pid: 4242,
    cacheDir: config.cacheDir, workers: 3, maxCacheBytes: config.maxCacheBytes, pahole: 'pahole', remote: null,
  });
});

test('GET /v1/status reports runtime, cache and pool; a broken cache is reported, not fatal', async (t) => {
  const { app, config } = harness(t, fakeEngine());
  const status = (await app.inject({ method: 'GET', url: '/v1/status' })).json();
  assert.equal(status.pid, 4242);
  assert.equal(status.uptimeSeconds, 10);
  assert.equal(status.warming, true);
  assert.equal(status.socketPath, config.socketPath);
  assert.equal(status.logPath, path.join(config.stateDir, 'btfd.log'));
  assert.deepEqual(status.cache, STATS);
  assert.deepEqual(status.pool, { size: 3, busy: 1, queued: 0 });
  assert.deepEqual(status.trees, []);
  assert.deepEqual(status.modules, { fresh: 1 });
  assert.equal(status.eventSubscribers, 0);
  assert.equal(status.idleTimeoutMs, 60_000);
  assert.deepEqual(status.pahole, { name: 'pahole', path: '/usr/bin/pahole', version: 'v1.24', error: null });

  const brokenCache = { ...fakeCache([]), stats: () => { throw new BtfdError('BTFD_ERR_CACHE_UNAVAILABLE', 'db locked'); } };
  const broken = harness(t, fakeEngine(), brokenCache);
  const res = await broken.app.inject({ method: 'GET', url: '/v1/status' });
  assert.equal(res.statusCode, 200);
  assert.equal(res.json().cache, null);
  assert.equal(res.json().cacheError, 'db locked');
});

test('every route\'s schemas compile when compiled eagerly; lazily compiled routes answer the same', async (t) => {
  const eager = harness(t, fakeEngine(), undefined, 'eager');
  // Eager compilation happens as routes are added: a schema that does not compile fails ready().
  await eager.app.ready();
  const lazy = harness(t, fakeEngine());
  const requests = [
    { method: 'GET', url: '/v1/status' },
    { method: 'POST', url: '/v1/build', payload: { dir: '/t', modules: ['/t/a.ko'] } },
    { method: 'POST', url: '/v1/build', payload: { dir: 'relative', bogus: 1 } },
    { method: 'GET', url: '/v1/modules?dir=/t&extra=1' },
    { method: 'POST', url: '/v1/cache/gc', payload: { maxBytes: 'lots' } },
  ] as const;
  // Each harness has a home of its own; the answers are otherwise the same bytes.
  const body = (h: Harness, text: string): string => text.replaceAll(h.config.home!, 'HOME');
  for (const request of requests) {
    const [a, b] = [await eager.app.inject(request), await lazy.app.inject(request)];
    assert.equal(b.statusCode, a.statusCode, `${request.method} ${request.url}`);
    assert.equal(body(lazy, b.body), body(eager, a.body), `${request.method} ${request.url}`);
  }
});

test('POST /v1/build answers the report as JSON', async (t) => {
  const engine = fakeEngine();
  const { app } = harness(t, engine);
  const res = await app.inject({ method: 'POST', url: '/v1/build', payload: { dir: '/k', paholeFlags: '-j' } });
  assert.equal(res.statusCode, 200);
  const body = res.json() as BuildReport;
  assert.equal(body.dir, '/k');
  assert.equal(body.modules, 1);
  assert.deepEqual(body.results[0], { path: '/k/a.ko', outcome: 'fresh', reason: 'unchanged', ms: 1 });
  assert.deepEqual(engine.calls, ['build /k']);
});

test('invalid request bodies answer BTFD_ERR_REQUEST_INVALID naming the field, and reach no engine', async (t) => {
  const engine = fakeEngine();
  const { app } = harness(t, engine);
  const cases: Array<{ payload: string; mentions: RegExp }> = [
    { payload: '{}', mentions: /dir/ },
    { payload: '{"dir":"relative/path"}', mentions: /dir/ },
    { payload: '{"dir":"/k","bogus":1}', mentions: /additional/ },
    { payload: '{"dir":"/k","modules":"/k/a.ko"}', mentions: /modules/ },
    { payload: '{"dir":', mentions: /JSON/i },
  ];
  for (const { payload, mentions } of cases) {
    const res = await app.inject({ method: 'POST', url: '/v1/build', payload, headers: { 'content-type': 'application/json' } });
    assert.equal(res.statusCode, 400, payload);
    assertErrorShape(res.json(), 'BTFD_ERR_REQUEST_INVALID', 400);
    assert.match(res.json().message, mentions, payload);
  }
  const text = await app.inject({ method: 'POST', url: '/v1/build', payload: 'dir=/k', headers: { 'content-type': 'text/plain' } });
  assertErrorShape(text.json(), 'BTFD_ERR_REQUEST_INVALID', 400);
  assert.deepEqual(engine.calls, []);
});

test('engine errors keep their catalog code; unexpected ones are INTERNAL and the app keeps serving', async (t) => {
  let fail: Error = new BtfdError('BTFD_ERR_BASE_MISSING', 'no vmlinux in /k');
  const { app } = harness(t, fakeEngine({ build: async () => { throw fail; } }));
  const missing = await app.inject({ method: 'POST', url: '/v1/build', payload: { dir: '/k' } });
  assert.equal(missing.statusCode, 422);
  assertErrorShape(missing.json(), 'BTFD_ERR_BASE_MISSING', 422);
  assert.equal(missing.json().message, 'no vmlinux in /k');

  fail = new TypeError('cannot read properties of undefined');
  const internal = await app.inject({ method: 'POST', url: '/v1/build', payload: { dir: '/k' } });
  assert.equal(internal.statusCode, 500);
  assertErrorShape(internal.json(), 'BTFD_ERR_INTERNAL', 500);

  const after = await app.inject({ method: 'GET', url: '/v1/hello' });
  assert.equal(after.statusCode, 200);
});

test('unknown routes answer BTFD_ERR_NOT_FOUND in the same shape', async (t) => {
  const { app } = harness(t, fakeEngine());
  for (const [method, url] of [['GET', '/v1/nope'], ['GET', '/'], ['DELETE', '/v1/hello']] as const) {
    const res = await app.inject({ method, url });
    assert.equal(res.statusCode, 404, `${method} ${url}`);
    assertErrorShape(res.json(), 'BTFD_ERR_NOT_FOUND', 404);
  }
});

function ndjsonLines(body: string): Array<Record<string, unknown>> {
  assert.ok(body.endsWith('\n'), 'every line ends with a newline');
  return body.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
}

test('POST /v1/build with Accept: application/x-ndjson streams events, then the report line', async (t) => {
  const events: BuildEvent[] = [];
  const engine = fakeEngine({
    async build(request, options) {
      const onEvent = options?.onEvent;
      const results: ModuleResult[] = [];
      onEvent?.({ type: 'planned', total: 3, fresh: 0, restore: 1, relocate: 0, regenerate: 2 });
      for (let i = 0; i < 3; i += 1) {
        // Real builds emit from later ticks; the stream must carry those too.
        await new Promise((resolve) => setImmediate(resolve));
        const result: ModuleResult = { path: `/k/m${i}.ko`, outcome: i === 0 ? 'restored' : 'regenerated', reason: 'r', ms: i };
        results.push(result);
        const event: BuildEvent = { type: 'module', result, done: i + 1, total: 3 };
        events.push(event);
        onEvent?.(event);
      }
      return report(request, results);
    },
  });
  const { app } = harness(t, engine);
  const res = await app.inject({ method: 'POST', url: '/v1/build', payload: { dir: '/k' }, headers: { accept: 'application/x-ndjson' } });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^application\/x-ndjson/);
  const lines = ndjsonLines(res.body);
  assert.equal(lines.length, 5);
  assert.deepEqual(lines[0], { type: 'planned', total: 3, fresh: 0, restore: 1, relocate: 0, regenerate: 2 });
  assert.deepEqual(lines.slice(1, 4), events);
  assert.equal(lines[4]?.['type'], 'report');
  assert.equal((lines[4]?.['report'] as BuildReport).modules, 3);
});

test('a streamed build failing before its first event gets an HTTP error; after events, an error line', async (t) => {
  const early = harness(t, fakeEngine({ build: async () => { throw new BtfdError('BTFD_ERR_BASE_NO_BTF', 'vmlinux has no .BTF'); } }));
  const res = await early.app.inject({ method: 'POST', url: '/v1/build', payload: { dir: '/k' }, headers: { accept: 'application/x-ndjson' } });
  assert.equal(res.statusCode, 422);
  assertErrorShape(res.json(), 'BTFD_ERR_BASE_NO_BTF', 422);

  const late = harness(t, fakeEngine({
    async build(_request, options) {
      const onEvent = options?.onEvent;
      onEvent?.({ type: 'planned', total: 2, fresh: 0, restore: 0, relocate: 0, regenerate: 2 });
      await new Promise((resolve) => setImmediate(resolve));
      throw new BtfdError('BTFD_ERR_CACHE_UNAVAILABLE', 'disk gone');
    },
  }));
  const streamed = await late.app.inject({ method: 'POST', url: '/v1/build', payload: { dir: '/k' }, headers: { accept: 'application/x-ndjson' } });
  assert.equal(streamed.statusCode, 200);
  const lines = ndjsonLines(streamed.body);
  assert.equal(lines.length, 2);
  assert.equal(lines[0]?.['type'], 'planned');
  assert.equal(lines[1]?.['type'], 'error');
  assertErrorShape(lines[1]?.['error'], 'BTFD_ERR_CACHE_UNAVAILABLE', 500);
});

test('POST /v1/explain, GET /v1/modules and the cache routes pass validated input to the engine', async (t) => {
  const engine = fakeEngine();
  const { app, config } = harness(t, engine);
  const explain = await app.inject({ method: 'POST', url: '/v1/explain', payload: { path: '/k/a.ko', base: '/k/vmlinux' } });
  assert.equal(explain.statusCode, 200);
  assert.equal(explain.json().verdict, 'restore');
  const badExplain = await app.inject({ method: 'POST', url: '/v1/explain', payload: { path: 'a.ko' } });
  assertErrorShape(badExplain.json(), 'BTFD_ERR_REQUEST_INVALID', 400);

  const modules = await app.inject({ method: 'GET', url: `/v1/modules?dir=${encodeURIComponent('/k dir')}` });
  assert.equal(modules.json().modules.length, 1);
  await app.inject({ method: 'GET', url: '/v1/modules' });
  const badModules = await app.inject({ method: 'GET', url: '/v1/modules?dir=rel' });
  assertErrorShape(badModules.json(), 'BTFD_ERR_REQUEST_INVALID', 400);

  assert.deepEqual((await app.inject({ method: 'GET', url: '/v1/cache/stats' })).json(), STATS);
  assert.deepEqual((await app.inject({ method: 'POST', url: '/v1/cache/gc', payload: {} })).json(), { removedEntries: 1, removedBytes: 10 });
  await app.inject({ method: 'POST', url: '/v1/cache/gc', payload: { maxBytes: 100 } });
  assert.equal((await app.inject({ method: 'POST', url: '/v1/cache/gc' })).statusCode, 200, 'no body: the configured size');
  const badGc = await app.inject({ method: 'POST', url: '/v1/cache/gc', payload: { maxBytes: -1 } });
  assertErrorShape(badGc.json(), 'BTFD_ERR_REQUEST_INVALID', 400);
  assert.deepEqual((await app.inject({ method: 'POST', url: '/v1/cache/verify' })).json(), { checked: 3, corrupt: [], missing: ['x'], orphans: 0 });
  assert.deepEqual((await app.inject({ method: 'POST', url: '/v1/cache/clear' })).json(), { cleared: true });

  assert.deepEqual(engine.calls, [
    'explain /k/a.ko /k/vmlinux', 'modules /k dir', 'modules *', `gc ${config.maxCacheBytes}`, 'gc 100', `gc ${config.maxCacheBytes}`, 'clear',
  ]);
});

test('POST /v1/stop answers first, then asks for shutdown; requests during shutdown are refused', async (t) => {
  const { app, runtime } = harness(t, fakeEngine());
  const res = await app.inject({ method: 'POST', url: '/v1/stop' });
  assert.deepEqual(res.json(), { stopping: true, pid: 4242 });
  assert.equal(runtime.stops, 1);

  runtime.closing = true;
  const refused = await app.inject({ method: 'GET', url: '/v1/hello' });
  assert.equal(refused.statusCode, 503);
  assertErrorShape(refused.json(), 'BTFD_ERR_DAEMON_SHUTTING_DOWN', 503);
  assert.equal(runtime.active, 0, 'every request, refused or not, ended its activity bracket');
});

/** A raw HTTP exchange over the app's unix socket (so node's own parser limits apply). */
async function rawRequest(t: TestContext, h: Harness, request: string): Promise<{ status: number; body: unknown }> {
  const socketPath = path.join(fs.mkdtempSync('/tmp/btfd-sock-'), 's');
  t.after(() => fs.rmSync(path.dirname(socketPath), { recursive: true, force: true }));
  await h.app.listen({ path: socketPath });
  const net = await import('node:net');
  const text = await new Promise<string>((resolve, reject) => {
    const socket = net.connect(socketPath, () => socket.end(request));
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('close', () => resolve(received));
    socket.on('error', (err) => (received ? resolve(received) : reject(err)));
  });
  const status = Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1]);
  return { status, body: JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) };
}

test('a 100 KB URL, a URL over 8 KiB and a body over 16 MiB answer BTFD_ERR_REQUEST_TOO_LARGE, not a bare status', async (t) => {
  const h = harness(t, fakeEngine());
  // Over node's header limit: refused by the parser before fastify routes it.
  const huge = await rawRequest(t, h, `GET /v1/modules?dir=${'a'.repeat(100 * 1024)} HTTP/1.1\r\nHost: x\r\n\r\n`);
  assert.equal(huge.status, 413);
  assertErrorShape(huge.body, 'BTFD_ERR_REQUEST_TOO_LARGE', 413);
  const long = await h.app.inject({ method: 'GET', url: `/v1/modules?dir=${'a'.repeat(9 * 1024)}` });
  assertErrorShape(long.json(), 'BTFD_ERR_REQUEST_TOO_LARGE', 413);
  const body = await h.app.inject({ method: 'POST', url: '/v1/build', headers: { 'content-type': 'application/json' }, payload: `{"dir":"/t","modules":["${'m'.repeat(17 * 1024 * 1024)}"]}` });
  assertErrorShape(body.json(), 'BTFD_ERR_REQUEST_TOO_LARGE', 413);
});

test('file system errnos answer their own codes: ENOSPC, EACCES, EROFS', async (t) => {
  for (const [errno, code, status] of [['ENOSPC', 'BTFD_ERR_FS_NO_SPACE', 507], ['EACCES', 'BTFD_ERR_FS_PERMISSION', 403], ['EROFS', 'BTFD_ERR_FS_READ_ONLY', 503]] as const) {
    const h = harness(t, fakeEngine({
      async listModules() {
        throw Object.assign(new Error(`${errno}: failed, write`), { code: errno });
      },
    }));
    const response = await h.app.inject({ method: 'GET', url: '/v1/modules' });
    assert.equal(response.statusCode, status);
    assertErrorShape(response.json(), code, status);
  }
});
