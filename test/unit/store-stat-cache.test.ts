import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import type { FileStamp } from '../../daemon/fs/file-stamp.js';
import { openStore, type Store } from '../../daemon/store/store.js';

interface Setup {
  store: Store;
  file: string;
  clock: { ms: number };
}

/** A store with an injected clock, and a real file to stat. */
function setup(t: TestContext): Setup {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'btfd-'));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const clock = { ms: 0 };
  const store = openStore({ dir: path.join(root, 'cache'), now: () => clock.ms });
  t.after(() => store.close());
  const file = path.join(root, 'm.ko');
  fs.writeFileSync(file, 'module bytes');
  return { store, file, clock };
}

function statKey(file: string): FileStamp {
  const st = fs.statSync(file, { bigint: true });
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs };
}

/** The wall-clock ms at which the file last changed (mtime or ctime, whichever is later). */
function changedMs(stat: FileStamp): number {
  const ns = stat.mtimeNs > stat.ctimeNs ? stat.mtimeNs : stat.ctimeNs;
  return Number(ns / 1_000_000n);
}

const DIGESTS = { contentDigest: 'content-1', outputsDigest: 'outputs-1' };

test('a recorded file is a hit while its stat is unchanged', (t) => {
  const { store, file, clock } = setup(t);
  const stat = statKey(file);
  clock.ms = changedMs(stat) + 5000;
  store.statCache.record(file, stat, DIGESTS);
  assert.deepEqual(store.statCache.lookup(file, statKey(file)), DIGESTS);
  assert.equal(store.statCache.lookup(path.join(path.dirname(file), 'other.ko'), stat), null);
  store.statCache.forget(file);
  assert.equal(store.statCache.lookup(file, stat), null);
});

test('a change in any stat field is a miss', (t) => {
  const { store, file, clock } = setup(t);
  const stat = statKey(file);
  clock.ms = changedMs(stat) + 5000;
  store.statCache.record(file, stat, DIGESTS);
  const variants: Record<string, FileStamp> = {
    dev: { ...stat, dev: BigInt(stat.dev) + 1n },
    ino: { ...stat, ino: BigInt(stat.ino) + 1n },
    size: { ...stat, size: stat.size + 1n },
    mtime: { ...stat, mtimeNs: stat.mtimeNs + 1n },
    ctime: { ...stat, ctimeNs: stat.ctimeNs + 1n },
  };
  for (const [field, variant] of Object.entries(variants)) {
    assert.equal(store.statCache.lookup(file, variant), null, `${field} changed`);
  }
  assert.deepEqual(store.statCache.lookup(file, stat), DIGESTS);

  // A real rewrite with the same size changes mtime/ctime.
  const later = new Date(Number(stat.mtimeNs / 1_000_000n) + 3000);
  fs.writeFileSync(file, 'MODULE BYTES');
  fs.utimesSync(file, later, later);
  assert.equal(store.statCache.lookup(file, statKey(file)), null);
});

test('stat values beyond 2^53 and unsigned 64-bit dev/ino are stored exactly', (t) => {
  const { store, clock } = setup(t);
  clock.ms = 1_800_000_000_000;
  const stat: FileStamp = {
    dev: 2n ** 64n - 3n,
    ino: 2n ** 63n + 12345n,
    size: 2n ** 40n,
    mtimeNs: 1_700_000_000_123_456_789n,
    ctimeNs: 1_700_000_000_123_456_790n,
  };
  store.statCache.record('/big', stat, { contentDigest: 'c', outputsDigest: null });
  assert.deepEqual(store.statCache.lookup('/big', stat), { contentDigest: 'c', outputsDigest: null });
  // One nanosecond off (lost if the value went through a double) is a different file version.
  assert.equal(store.statCache.lookup('/big', { ...stat, mtimeNs: stat.mtimeNs + 1n }), null);
  assert.equal(store.statCache.lookup('/big', { ...stat, ino: 2n ** 63n + 12344n }), null);
  assert.equal(store.statCache.lookup('/big', { ...stat, dev: 2n ** 64n - 2n }), null);
});

test('a racily recorded entry is not trusted until it is recorded again later', (t) => {
  const { store, file, clock } = setup(t);
  const stat = statKey(file);
  const changed = changedMs(stat);

  // Recorded in the same second the file changed: a write in the same timestamp tick could hide.
  clock.ms = changed + 400;
  store.statCache.record(file, stat, DIGESTS);
  assert.equal(store.statCache.lookup(file, stat), null);

  // Exactly at the edge of the window is still not trusted.
  clock.ms = changed + 1000;
  store.statCache.record(file, stat, DIGESTS);
  assert.equal(store.statCache.lookup(file, stat), null);

  // The caller re-hashed and records again after the window: now trusted.
  clock.ms = changed + 1001;
  store.statCache.record(file, stat, DIGESTS);
  assert.deepEqual(store.statCache.lookup(file, stat), DIGESTS);
});

test('an old mtime does not make an entry trusted when ctime is recent', (t) => {
  const { store, file, clock } = setup(t);
  const longAgo = new Date('2020-01-01T00:00:00Z');
  fs.utimesSync(file, longAgo, longAgo); // like cp -p or tar: old mtime, ctime = now
  const stat = statKey(file);
  assert.ok(stat.mtimeNs < stat.ctimeNs);
  clock.ms = Number(stat.ctimeNs / 1_000_000n) + 100;
  store.statCache.record(file, stat, DIGESTS);
  assert.equal(store.statCache.lookup(file, stat), null);
  clock.ms += 2000;
  store.statCache.record(file, stat, DIGESTS);
  assert.deepEqual(store.statCache.lookup(file, stat), DIGESTS);
});
