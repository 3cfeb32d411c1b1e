import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import type { FileStamp } from '../../daemon/fs/file-stamp.js';
import { RACY_WINDOW_NS, racyWindowNs, SUB_SECOND_RACY_WINDOW_NS } from '../../daemon/store/stat-cache.js';
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
  // This filesystem keeps sub-second times, as the window below assumes (and a whole-second stamp
  // gets the 1 s window: the next test).
  const stat = statKey(file);
  assert.equal(racyWindowNs(stat), SUB_SECOND_RACY_WINDOW_NS);
  const windowMs = Number(SUB_SECOND_RACY_WINDOW_NS / 1_000_000n);
  const changed = changedMs(stat);

  // Stat taken within the window of the file's change: a write in the same timestamp tick could hide.
  clock.ms = changed + windowMs / 2;
  store.statCache.record(file, stat, DIGESTS);
  assert.equal(store.statCache.lookup(file, stat), null);

  // Exactly at the edge of the window is still not trusted.
  clock.ms = changed + windowMs;
  store.statCache.record(file, stat, DIGESTS);
  assert.equal(store.statCache.lookup(file, stat), null);

  // The caller re-hashed after a stat taken past the window: now trusted.
  clock.ms = changed + windowMs + 1;
  store.statCache.record(file, stat, DIGESTS);
  assert.deepEqual(store.statCache.lookup(file, stat), DIGESTS);

  // What counts is when the stat was taken, not when the hash was recorded.
  store.statCache.record(file, stat, DIGESTS, changed + windowMs / 2);
  assert.equal(store.statCache.lookup(file, stat), null);
});

test('a whole-second stamp (a coarse filesystem) gets the 1 s window', (t) => {
  const { store, file, clock } = setup(t);
  const real = statKey(file);
  const coarse = { ...real, mtimeNs: (real.mtimeNs / 1_000_000_000n) * 1_000_000_000n, ctimeNs: (real.ctimeNs / 1_000_000_000n) * 1_000_000_000n };
  assert.equal(racyWindowNs(coarse), RACY_WINDOW_NS);
  const changed = changedMs(coarse);
  clock.ms = changed + 1000;
  store.statCache.record(file, coarse, DIGESTS);
  assert.equal(store.statCache.lookup(file, coarse), null);
  clock.ms = changed + 1001;
  store.statCache.record(file, coarse, DIGESTS);
  assert.deepEqual(store.statCache.lookup(file, coarse), DIGESTS);
});

test('an mtime below the ctime (cp -p, tar, btfd\'s own writes) is trusted at once: any later write moves the mtime', (t) => {
  const { store, file, clock } = setup(t);
  const longAgo = new Date('2020-01-01T00:00:00Z');
  fs.utimesSync(file, longAgo, longAgo); // like cp -p or tar: old mtime, ctime = now
  const stat = statKey(file);
  assert.ok(stat.mtimeNs < stat.ctimeNs);
  clock.ms = Number(stat.ctimeNs / 1_000_000n) + 5;
  store.statCache.record(file, stat, DIGESTS);
  assert.deepEqual(store.statCache.lookup(file, stat), DIGESTS);
  // A same-size write at once, within the ctime's tick: the mtime moves, the entry no longer matches.
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, Buffer.from('Z'), 0, 1, 0);
  fs.closeSync(fd);
  const after = statKey(file);
  assert.equal(after.size, stat.size);
  assert.ok(after.mtimeNs >= stat.ctimeNs);
  assert.equal(store.statCache.lookup(file, after), null);
});

test('on a whole-second filesystem an mtime below the ctime still waits out the window', (t) => {
  const { store, file, clock } = setup(t);
  const real = statKey(file);
  const coarse = { ...real, mtimeNs: (real.mtimeNs / 1_000_000_000n - 5n) * 1_000_000_000n, ctimeNs: (real.ctimeNs / 1_000_000_000n) * 1_000_000_000n };
  clock.ms = changedMs(coarse) + 5;
  store.statCache.record(file, coarse, DIGESTS);
  assert.equal(store.statCache.lookup(file, coarse), null);
});
