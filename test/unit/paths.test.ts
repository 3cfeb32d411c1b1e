/** Layout resolution (BTFD_HOME, XDG, the short socket fallback) and private dir checks. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { BtfdError } from '../../shared/errors.js';
import { checkPrivateDir, ensurePrivateDir, resolveLayout, SOCKET_PATH_MAX_BYTES } from '../../shared/paths.js';

function tempDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'btfd-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function modeOf(p: string): number {
  return fs.statSync(p).mode & 0o777;
}

test('BTFD_HOME puts socket, cache, logs and config under one dir', () => {
  const layout = resolveLayout({ home: '/h', env: { XDG_RUNTIME_DIR: '/run/user/1' }, uid: 1, userHome: '/home/u' });
  assert.deepEqual(layout, {
    home: '/h',
    runtimeDir: '/h/run',
    socketPath: '/h/run/btfd.sock',
    cacheDir: '/h/cache',
    stateDir: '/h/state',
    logPath: '/h/state/btfd.log',
    defaultConfigFile: '/h/config.json',
  });
});

test('without BTFD_HOME the XDG dirs are used, with their documented fallbacks', () => {
  const xdg = resolveLayout({
    home: null,
    env: { XDG_RUNTIME_DIR: '/run/user/7', XDG_CACHE_HOME: '/c', XDG_STATE_HOME: '/s', XDG_CONFIG_HOME: '/cfg' },
    uid: 7,
    userHome: '/home/u',
  });
  assert.equal(xdg.socketPath, '/run/user/7/btfd/btfd.sock');
  assert.equal(xdg.cacheDir, '/c/btfd');
  assert.equal(xdg.logPath, '/s/btfd/btfd.log');
  assert.equal(xdg.defaultConfigFile, '/cfg/btfd/config.json');

  // Unset or relative XDG values (invalid per the spec) fall back.
  const bare = resolveLayout({ home: null, env: { XDG_CACHE_HOME: 'relative' }, uid: 7, userHome: '/home/u' });
  assert.equal(bare.runtimeDir, '/tmp/btfd-7');
  assert.equal(bare.cacheDir, '/home/u/.cache/btfd');
  assert.equal(bare.stateDir, '/home/u/.local/state/btfd');
  assert.equal(bare.defaultConfigFile, '/home/u/.config/btfd/config.json');
});

test('a socket path longer than 107 bytes moves to a short private dir keyed by the home', () => {
  const longHome = `/tmp/${'x'.repeat(120)}`;
  const a = resolveLayout({ home: longHome, env: {}, uid: 1000, userHome: '/home/u' });
  assert.ok(Buffer.byteLength(a.socketPath) <= SOCKET_PATH_MAX_BYTES);
  assert.match(a.runtimeDir, /^\/tmp\/btfd-1000-[0-9a-f]{12}$/);
  assert.equal(a.cacheDir, `${longHome}/cache`, 'only the runtime dir moves');
  const b = resolveLayout({ home: `${longHome}y`, env: {}, uid: 1000, userHome: '/home/u' });
  assert.notEqual(a.runtimeDir, b.runtimeDir, 'two long homes get two sockets');

  // Exactly at the limit stays put; one byte more moves.
  const base = '/h/run/btfd.sock'.length - 2;
  const atLimit = `/${'h'.repeat(SOCKET_PATH_MAX_BYTES - base - 1)}`;
  assert.equal(Buffer.byteLength(resolveLayout({ home: atLimit, env: {}, uid: 1, userHome: '/' }).socketPath), SOCKET_PATH_MAX_BYTES);
  assert.match(resolveLayout({ home: `${atLimit}h`, env: {}, uid: 1, userHome: '/' }).runtimeDir, /^\/tmp\/btfd-1-/);
});

test('ensurePrivateDir creates missing dirs with mode 0700', (t) => {
  const root = tempDir(t);
  const dir = path.join(root, 'a', 'b');
  ensurePrivateDir(dir);
  assert.equal(modeOf(dir), 0o700);
  assert.equal(modeOf(path.join(root, 'a')), 0o700);
  ensurePrivateDir(dir); // existing and private: fine
});

function assertInsecure(fn: () => void, mentions: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof BtfdError);
    assert.equal(err.code, 'BTFD_ERR_HOME_INSECURE');
    assert.match(err.message, mentions);
    return true;
  });
}

test('private dirs are refused when symlinked, group/world-writable, or not a directory', (t) => {
  const root = tempDir(t);
  const real = path.join(root, 'real');
  fs.mkdirSync(real, { mode: 0o700 });
  const link = path.join(root, 'link');
  fs.symlinkSync(real, link);
  assertInsecure(() => ensurePrivateDir(link), /symlink/);

  const open = path.join(root, 'open');
  fs.mkdirSync(open);
  fs.chmodSync(open, 0o777);
  assertInsecure(() => ensurePrivateDir(open), /writable by group or others \(mode 0777\)/);
  fs.chmodSync(open, 0o770);
  assertInsecure(() => checkPrivateDir(open), /writable/);
  fs.chmodSync(open, 0o755);
  checkPrivateDir(open); // readable by others is the user's choice; writable is not

  const file = path.join(root, 'file');
  fs.writeFileSync(file, '');
  assertInsecure(() => ensurePrivateDir(file), /file|directory|EEXIST|ENOTDIR/);
});

test('a private dir owned by another uid is refused', (t) => {
  const dir = tempDir(t);
  const me = os.userInfo().uid;
  // As root we can give the dir away for real; otherwise check against a uid that is not ours.
  if (me === 0) {
    fs.chownSync(dir, 4321, 4321);
    assertInsecure(() => checkPrivateDir(dir), /owned by uid 4321/);
  } else {
    assertInsecure(() => checkPrivateDir(dir, me + 1), new RegExp(`owned by uid ${me}`));
  }
});
