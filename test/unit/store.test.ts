import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { BtfdError } from '../../shared/errors.js';
import { openStore, type ActionMeta, type Store, type StoreOptions } from '../../daemon/store/store.js';
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

test('an artifact round-trips through the action cache and the blob dir', (t) => {
  const { store, dir, clock } = setup(t);
  const data = artifact(1);
  const digest = store.putArtifact('key-1', data, meta(150));
  assert.equal(digest, sha(data));
  assert.deepEqual(fs.readFileSync(blobFile(dir, digest)), data);

  clock.ms += 10;
  assert.deepEqual(store.getAction('key-1'), { artifactDigest: digest, outputsDigest: OUTPUTS_DIGEST, costMs: 150 });
  assert.deepEqual(store.readBlob(digest), data);
  assert.equal(store.getAction('key-2'), null);

  // The same bytes under another key share one immutable blob file.
  const inode = fs.statSync(blobFile(dir, digest)).ino;
  assert.equal(store.putArtifact('key-2', Buffer.from(data), meta(90)), digest);
  assert.equal(fs.statSync(blobFile(dir, digest)).ino, inode);

  store.recordHit(150);
  store.recordHit(90.4);
  store.recordMiss();
  const stats = store.stats();
  assert.deepEqual(
    { entries: stats.entries, blobs: stats.blobs, bytes: stats.bytes, hits: stats.hits, misses: stats.misses, savedMs: stats.savedMs },
    { entries: 2, blobs: 1, bytes: 1000, hits: 2, misses: 1, savedMs: 240 },
  );
  assert.equal(stats.maxBytes, 2 * 1024 * 1024 * 1024);
});

test('readBlob drops a blob whose file was corrupted on disk, and the rows naming it', (t) => {
  const { store, dir } = setup(t);
  const data = artifact(2);
  const digest = store.putArtifact('k', data, meta(10));
  store.putArtifact('k-same-bytes', data, meta(10));
  const file = blobFile(dir, digest);
  const bytes = fs.readFileSync(file);
  bytes[500] = (bytes[500] ?? 0) ^ 0x01;
  fs.writeFileSync(file, bytes);

  assert.equal(store.readBlob(digest), null);
  assert.equal(fs.existsSync(file), false);
  assert.equal(store.getAction('k'), null);
  assert.equal(store.getAction('k-same-bytes'), null);
  const stats = store.stats();
  assert.equal(stats.corrupt, 1);
  assert.equal(stats.blobs, 0);
  assert.equal(stats.entries, 0);

  // Regenerating stores it again.
  assert.equal(store.putArtifact('k', data, meta(10)), digest);
  assert.deepEqual(store.readBlob(digest), data);
});

test('readBlob treats a missing blob file as a miss and drops its rows', (t) => {
  const { store, dir } = setup(t);
  const digest = store.putArtifact('k', artifact(3), meta(10));
  fs.unlinkSync(blobFile(dir, digest));
  assert.equal(store.readBlob(digest), null);
  assert.equal(store.getAction('k'), null);
  assert.equal(store.stats().missing, 1);
  // Not a digest: never touches the filesystem.
  assert.equal(store.readBlob('../../cache.db'), null);
});

test('gc evicts least recently used actions first and stops at the limit', (t) => {
  const { store, dir, clock } = setup(t, { maxBytes: 2000 });
  clock.ms = 1000;
  const a = store.putArtifact('a', artifact(10), meta(1));
  clock.ms = 2000;
  const b = store.putArtifact('b', artifact(11), meta(1));
  clock.ms = 3000;
  const c = store.putArtifact('c', artifact(12), meta(1));
  clock.ms = 4000;
  assert.ok(store.getAction('a')); // a is now the most recently used

  assert.deepEqual(store.gc(), { removedEntries: 1, removedBytes: 1000 });
  assert.equal(store.getAction('b'), null);
  assert.equal(fs.existsSync(blobFile(dir, b)), false);
  assert.ok(store.readBlob(a));
  assert.ok(store.readBlob(c));
  assert.equal(store.stats().bytes, 2000);
  assert.deepEqual(store.gc(), { removedEntries: 0, removedBytes: 0 });

  // c (used at 3000) goes before a (used at 4000; the getAction above bumped it).
  assert.deepEqual(store.gc(1000), { removedEntries: 1, removedBytes: 1000 });
  assert.equal(store.getAction('c'), null);
  assert.ok(store.getAction('a'));
});

test('gc keeps a blob another action still uses, and removes orphan blob files', (t) => {
  const { store, dir, clock } = setup(t);
  const shared = artifact(20);
  clock.ms = 1;
  const digest = store.putArtifact('old', shared, meta(1));
  clock.ms = 2;
  store.putArtifact('new', shared, meta(1));
  clock.ms = 3;
  const other = store.putArtifact('other', artifact(21, 500), meta(1));

  const orphanData = artifact(22, 300);
  const orphan = sha(orphanData);
  fs.mkdirSync(path.dirname(blobFile(dir, orphan)), { recursive: true });
  fs.writeFileSync(blobFile(dir, orphan), orphanData);

  // Limit 1200: the orphan goes; then 'old' is evicted but its blob stays (still used by 'new'),
  // then 'new' goes with the blob, leaving 500 bytes.
  const result = store.gc(1200);
  assert.deepEqual(result, { removedEntries: 2, removedBytes: 1300 });
  assert.equal(fs.existsSync(blobFile(dir, orphan)), false);
  assert.equal(fs.existsSync(blobFile(dir, digest)), false);
  assert.ok(store.readBlob(other));

  assert.deepEqual(store.gc(0), { removedEntries: 1, removedBytes: 500 });
  assert.deepEqual([store.stats().entries, store.stats().blobs, store.stats().bytes], [0, 0, 0]);
  expectCode(() => store.gc(-1), 'BTFD_ERR_CONFIG_INVALID', /maxBytes/);
});

test('verify finds corrupt and missing blobs and orphan files, and removes them', (t) => {
  const { store, dir, clock } = setup(t);
  const good = store.putArtifact('good', artifact(30), meta(1));
  const bad = store.putArtifact('bad', artifact(31), meta(1));
  const gone = store.putArtifact('gone', artifact(32), meta(1));
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

  const result = store.verify();
  assert.deepEqual(result, { checked: 3, corrupt: [bad], missing: [gone], orphans: 2 });
  assert.equal(fs.existsSync(blobFile(dir, bad)), false);
  assert.equal(fs.existsSync(blobFile(dir, orphan)), false);
  assert.equal(fs.existsSync(staleTemp), false);
  assert.equal(fs.existsSync(freshTemp), true);
  assert.equal(store.getAction('bad'), null);
  assert.equal(store.getAction('gone'), null);
  assert.ok(store.readBlob(good));
  const stats = store.stats();
  assert.deepEqual([stats.entries, stats.blobs, stats.corrupt, stats.missing], [1, 1, 1, 1]);
  assert.deepEqual(store.verify(), { checked: 1, corrupt: [], missing: [], orphans: 0 });
});

test('everything persists across close and reopen', (t) => {
  const { store, dir, clock } = setup(t);
  const data = artifact(40);
  const digest = store.putArtifact('k', data, meta(77));
  store.recordHit(77);
  store.recordMiss();
  const stat = { dev: 5, ino: 6, size: 7, mtimeNs: 1_700_000_000_123_456_789n, ctimeNs: 1_700_000_000_987_654_321n };
  clock.ms = 1_800_000_000_000; // well after the file's times, so the entry is trusted
  store.recordFile('/m.ko', stat, { contentDigest: 'c1', outputsDigest: null });
  store.recordModule({ path: '/t/a.ko', key: 'k', inputs: { base: 'b1', module: 'm1' }, outcome: 'restore', reason: 'base changed', updatedMs: 123 });
  store.close();
  store.close(); // idempotent
  expectCode(() => store.stats(), 'BTFD_ERR_CACHE_UNAVAILABLE', /closed/);

  const again = openStore({ dir, now: () => clock.ms + 10_000 });
  t.after(() => again.close());
  assert.deepEqual(again.getAction('k'), { artifactDigest: digest, outputsDigest: OUTPUTS_DIGEST, costMs: 77 });
  assert.deepEqual(again.readBlob(digest), data);
  assert.deepEqual(again.lookupFile('/m.ko', stat), { contentDigest: 'c1', outputsDigest: null });
  assert.deepEqual(again.getModule('/t/a.ko'), {
    path: '/t/a.ko', key: 'k', inputs: { base: 'b1', module: 'm1' }, outcome: 'restore', reason: 'base changed', updatedMs: 123,
  });
  const stats = again.stats();
  assert.deepEqual([stats.hits, stats.misses, stats.savedMs, stats.files], [1, 1, 77, 1]);
});

test('module records: upsert, lookup and listing by path prefix', (t) => {
  const { store } = setup(t);
  const rec = (p: string, outcome: string) => ({ path: p, key: `key:${p}`, inputs: { module: p }, outcome, reason: 'r', updatedMs: 1 });
  store.recordModule(rec('/tree/b/y.ko', 'fresh'));
  store.recordModule(rec('/tree/a/x.ko', 'regenerate'));
  store.recordModule(rec('/tree2/z.ko', 'fresh'));
  store.recordModule(rec('/tree/a/x.ko', 'restore'));
  store.recordModule(rec('/tr%e_/q.ko', 'fresh'));
  assert.equal(store.getModule('/tree/a/x.ko')?.outcome, 'restore');
  assert.equal(store.getModule('/nope.ko'), null);
  assert.deepEqual(store.listModules('/tree/').map((m) => m.path), ['/tree/a/x.ko', '/tree/b/y.ko']);
  assert.deepEqual(store.listModules('/tr%e_/').map((m) => m.path), ['/tr%e_/q.ko']);
  assert.equal(store.listModules().length, 4);
});

test('clear removes every row and blob file', (t) => {
  const { store, dir } = setup(t);
  const digest = store.putArtifact('k', artifact(50), meta(1));
  store.recordHit(1);
  store.recordFile('/f', { dev: 1, ino: 1, size: 1, mtimeNs: 1n, ctimeNs: 1n }, { contentDigest: 'c', outputsDigest: 'o' });
  store.recordModule({ path: '/m.ko', key: 'k', inputs: {}, outcome: 'fresh', reason: '', updatedMs: 1 });
  store.clear();
  assert.equal(fs.existsSync(blobFile(dir, digest)), false);
  assert.equal(store.getAction('k'), null);
  assert.equal(store.getModule('/m.ko'), null);
  const stats = store.stats();
  assert.deepEqual([stats.entries, stats.blobs, stats.bytes, stats.files, stats.hits], [0, 0, 0, 0, 0]);
});

test('a database from a newer schema version is refused', (t) => {
  const dir = tempDir(t);
  openStore({ dir }).close();
  const db = new Database(path.join(dir, 'cache.db'));
  assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  db.close();
  expectCode(() => openStore({ dir }), 'BTFD_ERR_CACHE_UNAVAILABLE', new RegExp(`schema version ${SCHEMA_VERSION + 1}.*newer`));
});

test('a garbage cache.db is reported as an unavailable cache, with the cause', (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'cache.db'), Buffer.alloc(8192, 0x5a));
  assert.throws(() => openStore({ dir }), (err: unknown) => {
    assert.ok(err instanceof BtfdError);
    assert.equal(err.code, 'BTFD_ERR_CACHE_UNAVAILABLE');
    assert.match(err.message, /cache\.db/);
    assert.ok(err.cause instanceof Error);
    return true;
  });
  // A cache dir that is a regular file cannot be opened either.
  const notDir = path.join(dir, 'file');
  fs.writeFileSync(notDir, '');
  expectCode(() => openStore({ dir: notDir }), 'BTFD_ERR_CACHE_UNAVAILABLE');
  expectCode(() => openStore({ dir: path.join(dir, 'x'), maxBytes: 1.5 }), 'BTFD_ERR_CONFIG_INVALID', /options\.maxBytes/);
});

test('two stores on one dir (as a daemon and a CLI would) share the cache', (t) => {
  const { store: first, dir } = setup(t);
  const second = openStore({ dir });
  t.after(() => second.close());

  const one = first.putArtifact('one', artifact(60), meta(5));
  const two = second.putArtifact('two', artifact(61), meta(6));
  assert.deepEqual(second.getAction('one'), { artifactDigest: one, outputsDigest: OUTPUTS_DIGEST, costMs: 5 });
  assert.deepEqual(first.readBlob(two), artifact(61));
  first.recordHit(5);
  second.recordHit(6);
  assert.equal(first.stats().hits, 2);

  // Another real process writes while both stores hold the database open.
  const storeJs = new URL('../../daemon/store/store.js', import.meta.url).href;
  const script = `
    import { openStore } from ${JSON.stringify(storeJs)};
    const store = openStore({ dir: ${JSON.stringify(dir)} });
    const digest = store.putArtifact('child', Buffer.from('from the child'), { outputsDigest: 'o'.repeat(64), inputs: { tool: 't', flags: 'f', base: 'b', module: 'm' }, costMs: 9 });
    store.recordMiss();
    store.close();
    process.stdout.write(digest);
  `;
  const childDigest = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(first.getAction('child')?.artifactDigest, childDigest);
  assert.deepEqual(second.readBlob(childDigest), Buffer.from('from the child'));
  assert.equal(first.stats().misses, 1);

  second.gc(0);
  assert.equal(first.getAction('one'), null);
  assert.equal(first.stats().entries, 0);
});

test('the cache dir, blob dirs and files are private', (t) => {
  const { store, dir } = setup(t);
  const digest = store.putArtifact('k', artifact(70), meta(1));
  const mode = (p: string) => fs.statSync(p).mode & 0o777;
  assert.equal(mode(dir), 0o700);
  assert.equal(mode(path.join(dir, 'cas')), 0o700);
  assert.equal(mode(path.dirname(blobFile(dir, digest))), 0o700);
  assert.equal(mode(blobFile(dir, digest)), 0o600);
  assert.equal(mode(path.join(dir, 'cache.db')), 0o600);
  assert.equal(mode(path.join(dir, 'cache.db-wal')), 0o600);
  assert.deepEqual(
    fs.readdirSync(path.dirname(blobFile(dir, digest))).filter((n) => n.startsWith('.tmp-')),
    [],
    'no temp file left behind',
  );
});
