import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { BtfdError } from '../../shared/errors.js';
import type { ActionMeta } from '../../daemon/store/artifact-cache.js';
import { openStore, type Store, type StoreOptions, type StoreRecovery } from '../../daemon/store/store.js';
import { SCHEMA_VERSION } from '../../daemon/store/schema.js';

function tempDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'btfd-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A store in a fresh temp dir, closed after the test; `clock.ms` drives its `now`. */
function setup(t: TestContext, options: Partial<StoreOptions> = {}): { store: Store; dir: string; clock: { ms: number } } {
  const dir = path.join(tempDir(t), 'cache');
  const clock = { ms: 1_000_000 };
  const store = openStore({ dir, now: () => clock.ms, ...options });
  t.after(() => store.close());
  return { store, dir, clock };
}

function sha(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function blobFile(dir: string, digest: string): string {
  return path.join(dir, 'cas', digest.slice(0, 2), digest);
}

/** `size` bytes that differ per `seed`. */
function artifact(seed: number, size = 1000): Buffer {
  const buf = Buffer.alloc(size);
  for (let i = 0; i < size; i++) buf[i] = (seed * 31 + i * 7) & 0xff;
  buf.writeUInt32LE(seed, 0);
  return buf;
}

const OUTPUTS_DIGEST = 'o'.repeat(64);
/** The size limit stats are reported against (the default). */
const MAX_BYTES = 2 * 1024 * 1024 * 1024;

/** What the engine records with an artifact (the values do not matter to the store). */
function meta(costMs: number): ActionMeta {
  return { outputsDigest: OUTPUTS_DIGEST, inputs: { tool: 't', flags: 'f', base: 'b', module: 'm' }, costMs };
}

function expectCode(fn: () => unknown, code: string, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof BtfdError, `expected BtfdError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (message) assert.match(err.message, message);
    return true;
  });
}

test('an artifact round-trips through the action cache and the blob dir', async (t) => {
  const { store, dir, clock } = setup(t);
  const data = artifact(1);
  const digest = await store.artifacts.put('key-1', data, meta(150));
  assert.equal(digest, sha(data));
  assert.deepEqual(fs.readFileSync(blobFile(dir, digest)), data);

  clock.ms += 10;
  assert.deepEqual(await store.artifacts.lookup('key-1'), { artifactDigest: digest, outputsDigest: OUTPUTS_DIGEST, costMs: 150, tier: 'local' });
  assert.deepEqual(await store.artifacts.read(digest), data);
  assert.equal(await store.artifacts.lookup('key-2'), null);

  // The same bytes under another key share one immutable blob file.
  const inode = fs.statSync(blobFile(dir, digest)).ino;
  assert.equal(await store.artifacts.put('key-2', Buffer.from(data), meta(90)), digest);
  assert.equal(fs.statSync(blobFile(dir, digest)).ino, inode);

  store.counters.add('hits');
  store.counters.add('saved_ms', 150);
  store.counters.add('hits');
  store.counters.add('saved_ms', 90.4);
  store.counters.add('misses');
  const stats = store.stats(MAX_BYTES);
  assert.deepEqual(
    { entries: stats.entries, blobs: stats.blobs, bytes: stats.bytes, hits: stats.hits, misses: stats.misses, savedMs: stats.savedMs },
    { entries: 2, blobs: 1, bytes: 1000, hits: 2, misses: 1, savedMs: 240 },
  );
  assert.equal(stats.maxBytes, 2 * 1024 * 1024 * 1024);
});

test('readBlob drops a blob whose file was corrupted on disk, and the rows naming it', async (t) => {
  const { store, dir } = setup(t);
  const data = artifact(2);
  const digest = await store.artifacts.put('k', data, meta(10));
  await store.artifacts.put('k-same-bytes', data, meta(10));
  const file = blobFile(dir, digest);
  const bytes = fs.readFileSync(file);
  bytes[500] = (bytes[500] ?? 0) ^ 0x01;
  fs.writeFileSync(file, bytes);

  assert.equal(await store.artifacts.read(digest), null);
  assert.equal(fs.existsSync(file), false);
  assert.equal(await store.artifacts.lookup('k'), null);
  assert.equal(await store.artifacts.lookup('k-same-bytes'), null);
  const stats = store.stats(MAX_BYTES);
  assert.equal(stats.corrupt, 1);
  assert.equal(stats.blobs, 0);
  assert.equal(stats.entries, 0);

  // Regenerating stores it again.
  assert.equal(await store.artifacts.put('k', data, meta(10)), digest);
  assert.deepEqual(await store.artifacts.read(digest), data);
});

test('readBlob treats a missing blob file as a miss and drops its rows', async (t) => {
  const { store, dir } = setup(t);
  const digest = await store.artifacts.put('k', artifact(3), meta(10));
  fs.unlinkSync(blobFile(dir, digest));
  assert.equal(await store.artifacts.read(digest), null);
  assert.equal(await store.artifacts.lookup('k'), null);
  assert.equal(store.stats(MAX_BYTES).missing, 1);
  // Not a digest: never touches the filesystem.
  assert.equal(await store.artifacts.read('../../cache.db'), null);
});

test('gc evicts least recently used actions first and stops at the limit', async (t) => {
  const { store, dir, clock } = setup(t);
  clock.ms = 1000;
  const a = await store.artifacts.put('a', artifact(10), meta(1));
  clock.ms = 2000;
  const b = await store.artifacts.put('b', artifact(11), meta(1));
  clock.ms = 3000;
  const c = await store.artifacts.put('c', artifact(12), meta(1));
  clock.ms = 4000;
  await store.artifacts.touch('a'); // a is now the most recently used

  assert.deepEqual(store.artifacts.gc(2000), { removedEntries: 1, removedBytes: 1000 });
  assert.equal(await store.artifacts.lookup('b'), null);
  assert.equal(fs.existsSync(blobFile(dir, b)), false);
  assert.ok(await store.artifacts.read(a));
  assert.ok(await store.artifacts.read(c));
  assert.equal(store.stats(MAX_BYTES).bytes, 2000);
  assert.deepEqual(store.artifacts.gc(2000), { removedEntries: 0, removedBytes: 0 });

  // c (used at 3000) goes before a (used at 4000; the touch above bumped it).
  assert.deepEqual(store.artifacts.gc(1000), { removedEntries: 1, removedBytes: 1000 });
  assert.equal(await store.artifacts.lookup('c'), null);
  assert.ok(await store.artifacts.lookup('a'));
});

test('gc keeps a blob another action still uses, and removes orphan blob files', async (t) => {
  const { store, dir, clock } = setup(t);
  const shared = artifact(20);
  clock.ms = 1;
  const digest = await store.artifacts.put('old', shared, meta(1));
  clock.ms = 2;
  await store.artifacts.put('new', shared, meta(1));
  clock.ms = 3;
  const other = await store.artifacts.put('other', artifact(21, 500), meta(1));

  const orphanData = artifact(22, 300);
  const orphan = sha(orphanData);
  fs.mkdirSync(path.dirname(blobFile(dir, orphan)), { recursive: true });
  fs.writeFileSync(blobFile(dir, orphan), orphanData);

  // Limit 1200: the orphan goes; then 'old' is evicted but its blob stays (still used by 'new'),
  // then 'new' goes with the blob, leaving 500 bytes.
  const result = store.artifacts.gc(1200);
  assert.deepEqual(result, { removedEntries: 2, removedBytes: 1300 });
  assert.equal(fs.existsSync(blobFile(dir, orphan)), false);
  assert.equal(fs.existsSync(blobFile(dir, digest)), false);
  assert.ok(await store.artifacts.read(other));

  assert.deepEqual(store.artifacts.gc(0), { removedEntries: 1, removedBytes: 500 });
  assert.deepEqual([store.stats(MAX_BYTES).entries, store.stats(MAX_BYTES).blobs, store.stats(MAX_BYTES).bytes], [0, 0, 0]);
});

test('verify finds corrupt and missing blobs and orphan files, and removes them', async (t) => {
  const { store, dir, clock } = setup(t);
  const good = await store.artifacts.put('good', artifact(30), meta(1));
  const bad = await store.artifacts.put('bad', artifact(31), meta(1));
  const gone = await store.artifacts.put('gone', artifact(32), meta(1));
  fs.writeFileSync(blobFile(dir, bad), Buffer.alloc(1000));
  fs.unlinkSync(blobFile(dir, gone));
  const orphanData = artifact(33);
  const orphan = sha(orphanData);
  fs.mkdirSync(path.dirname(blobFile(dir, orphan)), { recursive: true });
  fs.writeFileSync(blobFile(dir, orphan), orphanData);
  // A temp file from a writer that died long ago is swept; a fresh one (a write in progress) is not.
  const staleTemp = path.join(path.dirname(blobFile(dir, good)), '.tmp-dead');
  const freshTemp = path.join(path.dirname(blobFile(dir, good)), '.tmp-live');
  fs.writeFileSync(staleTemp, 'x');
  fs.writeFileSync(freshTemp, 'x');
  clock.ms = Date.now();
  const old = new Date(clock.ms - 60 * 60 * 1000);
  fs.utimesSync(staleTemp, old, old);

  const result = store.artifacts.verify();
  assert.deepEqual(result, { checked: 3, corrupt: [bad], missing: [gone], orphans: 2 });
  assert.equal(fs.existsSync(blobFile(dir, bad)), false);
  assert.equal(fs.existsSync(blobFile(dir, orphan)), false);
  assert.equal(fs.existsSync(staleTemp), false);
  assert.equal(fs.existsSync(freshTemp), true);
  assert.equal(await store.artifacts.lookup('bad'), null);
  assert.equal(await store.artifacts.lookup('gone'), null);
  assert.ok(await store.artifacts.read(good));
  const stats = store.stats(MAX_BYTES);
  assert.deepEqual([stats.entries, stats.blobs, stats.corrupt, stats.missing], [1, 1, 1, 1]);
  assert.deepEqual(store.artifacts.verify(), { checked: 1, corrupt: [], missing: [], orphans: 0 });
});

test('everything persists across close and reopen', async (t) => {
  const { store, dir, clock } = setup(t);
  const data = artifact(40);
  const digest = await store.artifacts.put('k', data, meta(77));
  store.counters.add('hits');
  store.counters.add('saved_ms', 77);
  store.counters.add('misses');
  const stat = { dev: 5n, ino: 6n, size: 7n, mtimeNs: 1_700_000_000_123_456_789n, ctimeNs: 1_700_000_000_987_654_321n };
  clock.ms = 1_800_000_000_000; // well after the file's times, so the entry is trusted
  store.statCache.record('/m.ko', stat, { contentDigest: 'c1', outputsDigest: null });
  store.modules.put({ path: '/t/a.ko', key: 'k', inputs: { base: 'b1', module: 'm1' }, outcome: 'restore', reason: 'base changed', updatedMs: 123 });
  store.close();
  store.close(); // idempotent
  expectCode(() => store.stats(MAX_BYTES), 'BTFD_ERR_CACHE_UNAVAILABLE', /closed/);

  const again = openStore({ dir, now: () => clock.ms + 10_000 });
  t.after(() => again.close());
  assert.deepEqual(await again.artifacts.lookup('k'), { artifactDigest: digest, outputsDigest: OUTPUTS_DIGEST, costMs: 77, tier: 'local' });
  assert.deepEqual(await again.artifacts.read(digest), data);
  assert.deepEqual(again.statCache.lookup('/m.ko', stat), { contentDigest: 'c1', outputsDigest: null });
  assert.deepEqual(again.modules.get('/t/a.ko'), {
    path: '/t/a.ko', key: 'k', inputs: { base: 'b1', module: 'm1' }, outcome: 'restore', reason: 'base changed', updatedMs: 123,
    checkedMs: 123, errorCode: null,
  });
  const stats = again.stats(MAX_BYTES);
  assert.deepEqual([stats.hits, stats.misses, stats.savedMs, stats.files], [1, 1, 77, 1]);
});

test('module records: upsert, lookup and listing by path prefix', async (t) => {
  const { store } = setup(t);
  const rec = (p: string, outcome: string) => ({ path: p, key: `key:${p}`, inputs: { module: p }, outcome, reason: 'r', updatedMs: 1 });
  store.modules.put(rec('/tree/b/y.ko', 'fresh'));
  store.modules.put(rec('/tree/a/x.ko', 'regenerate'));
  store.modules.put(rec('/tree2/z.ko', 'fresh'));
  store.modules.put(rec('/tree/a/x.ko', 'restore'));
  store.modules.put(rec('/tr%e_/q.ko', 'fresh'));
  assert.equal(store.modules.get('/tree/a/x.ko')?.outcome, 'restore');
  assert.equal(store.modules.get('/nope.ko'), null);
  assert.deepEqual(store.modules.list('/tree/').map((m) => m.path), ['/tree/a/x.ko', '/tree/b/y.ko']);
  assert.deepEqual(store.modules.list('/tr%e_/').map((m) => m.path), ['/tr%e_/q.ko']);
  assert.equal(store.modules.list().length, 4);
});

test('module records: a check keeps the last change, a failure keeps the last good key until a success', async (t) => {
  const { store } = setup(t);
  store.modules.put({ path: '/m.ko', key: 'k1', inputs: { base: 'b1' }, outcome: 'regenerated', reason: 'not cached (first build)', updatedMs: 10 });
  store.modules.checked('/m.ko', 'k2', { base: 'b2' }, 20);
  assert.deepEqual(store.modules.get('/m.ko'), {
    path: '/m.ko', key: 'k2', inputs: { base: 'b2' }, outcome: 'regenerated', reason: 'not cached (first build)', updatedMs: 10, checkedMs: 20, errorCode: null,
  });
  store.modules.failed('/m.ko', { code: 'BTFD_ERR_ELF_TRUNCATED', message: 'short' }, 30);
  assert.deepEqual(store.modules.get('/m.ko'), {
    path: '/m.ko', key: 'k2', inputs: { base: 'b2' }, outcome: 'failed', reason: 'short', updatedMs: 30, checkedMs: 30, errorCode: 'BTFD_ERR_ELF_TRUNCATED',
  });
  store.modules.put({ path: '/m.ko', key: 'k3', inputs: {}, outcome: 'restored', reason: 'cached', updatedMs: 40 });
  assert.equal(store.modules.get('/m.ko')?.errorCode, null, 'a success clears the failure');
  // A module that only ever failed has no key.
  store.modules.failed('/new.ko', { code: 'BTFD_ERR_ELF_NOT_ELF', message: 'no' }, 50);
  assert.deepEqual([store.modules.get('/new.ko')?.key, store.modules.get('/new.ko')?.outcome], ['', 'failed']);
});

test('clear removes every row and blob file', async (t) => {
  const { store, dir } = setup(t);
  const digest = await store.artifacts.put('k', artifact(50), meta(1));
  store.counters.add('hits');
  store.counters.add('saved_ms', 1);
  store.statCache.record('/f', { dev: 1n, ino: 1n, size: 1n, mtimeNs: 1n, ctimeNs: 1n }, { contentDigest: 'c', outputsDigest: 'o' });
  store.modules.put({ path: '/m.ko', key: 'k', inputs: {}, outcome: 'fresh', reason: '', updatedMs: 1 });
  store.clear();
  assert.equal(fs.existsSync(blobFile(dir, digest)), false);
  assert.equal(await store.artifacts.lookup('k'), null);
  assert.equal(store.modules.get('/m.ko'), null);
  const stats = store.stats(MAX_BYTES);
  assert.deepEqual([stats.entries, stats.blobs, stats.bytes, stats.files, stats.hits], [0, 0, 0, 0, 0]);
});

test('a database from a newer schema version is refused', async (t) => {
  const dir = tempDir(t);
  openStore({ dir }).close();
  const db = new Database(path.join(dir, 'cache.db'));
  assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  db.close();
  expectCode(() => openStore({ dir }), 'BTFD_ERR_CACHE_UNAVAILABLE', new RegExp(`schema version ${SCHEMA_VERSION + 1}.*newer`));
});

test('a garbage cache.db is moved aside, kept, and replaced by a fresh database', async (t) => {
  const dir = tempDir(t);
  const garbage = Buffer.alloc(8192, 0x5a);
  fs.writeFileSync(path.join(dir, 'cache.db'), garbage);
  const recovered: string[] = [];
  const store = openStore({ dir, onRecovered: (r) => recovered.push(r.movedTo) });
  t.after(() => store.close());
  assert.ok(store.recovery !== null);
  assert.equal(store.recovery.code, 'BTFD_ERR_CACHE_DB_CORRUPT');
  assert.match(path.basename(store.recovery.movedTo), /^cache\.db\.corrupt-\d{4}-\d\d-\d\dT/);
  assert.deepEqual(recovered, [store.recovery.movedTo]);
  assert.deepEqual(fs.readFileSync(store.recovery.movedTo), garbage, 'the bad file is kept as it was');
  await store.artifacts.put('k', artifact(1), meta(1));
  assert.equal((await store.artifacts.lookup('k'))?.artifactDigest, sha(artifact(1)));
  // A cache dir that is a regular file cannot be opened, and is not "recovered".
  const notDir = path.join(dir, 'file');
  fs.writeFileSync(notDir, '');
  expectCode(() => openStore({ dir: notDir }), 'BTFD_ERR_CACHE_UNAVAILABLE');
});

test('a database truncated under an open store (WAL kept) is recovered at the first failing call, which is retried; blobs stay', async (t) => {
  const { store, dir } = setup(t);
  const first = artifact(7);
  const digest = await store.artifacts.put('k0', first, meta(1));
  for (let i = 0; i < 400; i++) store.statCache.record(`/m/${i}.ko`.padEnd(300, 'x'), { dev: 1n, ino: BigInt(i), size: 1n, mtimeNs: 1n, ctimeNs: 1n }, { contentDigest: 'c'.repeat(64), outputsDigest: null });
  // Checkpoint into cache.db (a second handle, as another process would), then cut it in half.
  const other = new Database(path.join(dir, 'cache.db'));
  other.pragma('wal_checkpoint(TRUNCATE)');
  other.close();
  const file = path.join(dir, 'cache.db');
  fs.truncateSync(file, Math.floor(fs.statSync(file).size / 2));
  assert.equal(store.recovery, null);
  const recovery = (): StoreRecovery | null => store.recovery;

  // The call that meets the damage succeeds on the fresh database.
  const stamp = { dev: 1n, ino: 5000n, size: 1n, mtimeNs: 1n, ctimeNs: 1n };
  store.statCache.record('/new.ko', stamp, { contentDigest: 'd'.repeat(64), outputsDigest: null });
  for (let i = 0; i < 400; i++) store.statCache.lookup(`/m/${i}.ko`.padEnd(300, 'x'), stamp);
  const found = recovery();
  assert.ok(found !== null, 'the damage was found');
  assert.ok(fs.existsSync(found.movedTo), 'the bad database is kept');
  assert.equal(store.statCache.lookup('/new.ko', stamp)?.contentDigest, 'd'.repeat(64));
  // The blob written before is still there and is reused by the same content.
  assert.ok(fs.existsSync(blobFile(dir, digest)));
  assert.equal(await store.artifacts.put('k0', first, meta(1)), digest);
  assert.deepEqual(await store.artifacts.read(digest), first);
});

test('two stores on one dir (as a daemon and a CLI would) share the cache', async (t) => {
  const { store: first, dir } = setup(t);
  const second = openStore({ dir });
  t.after(() => second.close());

  const one = await first.artifacts.put('one', artifact(60), meta(5));
  const two = await second.artifacts.put('two', artifact(61), meta(6));
  assert.deepEqual(await second.artifacts.lookup('one'), { artifactDigest: one, outputsDigest: OUTPUTS_DIGEST, costMs: 5, tier: 'local' });
  assert.deepEqual(await first.artifacts.read(two), artifact(61));
  first.counters.add('hits');
  first.counters.add('saved_ms', 5);
  second.counters.add('hits');
  second.counters.add('saved_ms', 6);
  assert.equal(first.stats(MAX_BYTES).hits, 2);

  // Another real process writes while both stores hold the database open.
  const storeJs = new URL('../../daemon/store/store.js', import.meta.url).href;
  const script = `
    import { openStore } from ${JSON.stringify(storeJs)};
    const store = openStore({ dir: ${JSON.stringify(dir)} });
    const digest = await store.artifacts.put('child', Buffer.from('from the child'), { outputsDigest: 'o'.repeat(64), inputs: { tool: 't', flags: 'f', base: 'b', module: 'm' }, costMs: 9 });
    store.counters.add('misses');
    store.close();
    process.stdout.write(digest);
  `;
  const childDigest = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal((await first.artifacts.lookup('child'))?.artifactDigest, childDigest);
  assert.deepEqual(await second.artifacts.read(childDigest), Buffer.from('from the child'));
  assert.equal(first.stats(MAX_BYTES).misses, 1);

  second.artifacts.gc(0);
  assert.equal(await first.artifacts.lookup('one'), null);
  assert.equal(first.stats(MAX_BYTES).entries, 0);
});

test('the cache dir, blob dirs and files are private', async (t) => {
  const { store, dir } = setup(t);
  const digest = await store.artifacts.put('k', artifact(70), meta(1));
  const mode = (p: string) => fs.statSync(p).mode & 0o777;
  assert.equal(mode(dir), 0o700);
  assert.equal(mode(path.join(dir, 'cas')), 0o700);
  assert.equal(mode(path.dirname(blobFile(dir, digest))), 0o700);
  assert.equal(mode(blobFile(dir, digest)), 0o600);
  assert.equal(mode(path.join(dir, 'cache.db')), 0o600);
  assert.equal(mode(path.join(dir, 'cache.db-wal')), 0o600);
  assert.deepEqual(
    fs.readdirSync(path.dirname(blobFile(dir, digest))).filter((n) => n.startsWith('.tmp-') || n.includes('.btfd-')),
    [],
    'no temp file left behind',
  );
});
