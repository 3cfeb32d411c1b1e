/** Config resolution: precedence, validation messages naming the option, freezing, explicit settings. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { test, type TestContext } from 'node:test';
import { inspect } from 'node:util';
import {
  configToDaemonArgs, configToDaemonEnv, DAEMON_ARG_OPTIONS, describeRemote, daemonArgsToFlags, DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_MAX_CACHE_BYTES,
  DEFAULT_REMOTE_TIMEOUT_MS, parseSize, resolveConfig,
} from '../../shared/config.js';
import { BtfdError } from '../../shared/errors.js';

function tempHome(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'btfd-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function assertConfigError(fn: () => unknown, mentions: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof BtfdError, String(err));
    assert.equal(err.code, 'BTFD_ERR_CONFIG_INVALID');
    assert.match(err.message, mentions);
    return true;
  });
}

test('defaults: XDG layout, pahole from PATH, one worker per core, 2 GiB, 1 h', () => {
  const config = resolveConfig({ env: { HOME: '/home/u', XDG_RUNTIME_DIR: '/run/user/5' }, file: null });
  assert.equal(config.home, null);
  assert.equal(config.socketPath, '/run/user/5/btfd/btfd.sock');
  assert.equal(config.runtimeDir, '/run/user/5/btfd');
  assert.equal(config.cacheDir, '/home/u/.cache/btfd');
  assert.equal(config.logPath, '/home/u/.local/state/btfd/btfd.log');
  assert.equal(config.pahole, 'pahole');
  assert.equal(config.workers, os.availableParallelism());
  assert.equal(config.maxCacheBytes, DEFAULT_MAX_CACHE_BYTES);
  assert.equal(config.maxCacheBytes, 2 * 1024 ** 3);
  assert.equal(config.idleTimeoutMs, DEFAULT_IDLE_TIMEOUT_MS);
  assert.equal(config.logLevel, 'info');
  assert.equal(config.configFile, null);
  assert.ok(Object.isFrozen(config));
});

test('precedence: defaults < config file < env < flags', (t) => {
  const home = tempHome(t);
  fs.writeFileSync(path.join(home, 'config.json'), JSON.stringify({ pahole: '/file/pahole', workers: 3, maxCacheBytes: '1G', logLevel: 'debug' }));
  const fromFile = resolveConfig({ env: { BTFD_HOME: home } });
  assert.equal(fromFile.configFile, path.join(home, 'config.json'));
  assert.deepEqual([fromFile.pahole, fromFile.workers, fromFile.maxCacheBytes, fromFile.logLevel], ['/file/pahole', 3, 1024 ** 3, 'debug']);

  const env = { BTFD_HOME: home, BTFD_PAHOLE: '/env/pahole', BTFD_WORKERS: '5', BTFD_MAX_CACHE_SIZE: '500M', BTFD_IDLE_TIMEOUT_MS: '250' };
  const fromEnv = resolveConfig({ env });
  assert.deepEqual([fromEnv.pahole, fromEnv.workers, fromEnv.maxCacheBytes, fromEnv.idleTimeoutMs, fromEnv.logLevel],
    ['/env/pahole', 5, 500 * 1024 ** 2, 250, 'debug']);

  const fromFlags = resolveConfig({ env, flags: { pahole: '/flag/pahole', workers: '7', maxCacheBytes: 1000 } });
  assert.deepEqual([fromFlags.pahole, fromFlags.workers, fromFlags.maxCacheBytes], ['/flag/pahole', 7, 1000]);

  const other = tempHome(t);
  assert.equal(resolveConfig({ env, flags: { home: other } }).cacheDir, path.join(other, 'cache'), '--home beats BTFD_HOME');
});

test('validation messages name the option as the user wrote it', (t) => {
  assertConfigError(() => resolveConfig({ env: { BTFD_WORKERS: 'many' }, file: null }), /^BTFD_WORKERS must be an integer from 1 to 1024, got "many"$/);
  assertConfigError(() => resolveConfig({ flags: { workers: 0 }, file: null }), /^--workers must be/);
  assertConfigError(() => resolveConfig({ env: { BTFD_MAX_CACHE_SIZE: '2X' }, file: null }), /^BTFD_MAX_CACHE_SIZE must be a positive size/);
  assertConfigError(() => resolveConfig({ env: { BTFD_IDLE_TIMEOUT_MS: '-1' }, file: null }), /^BTFD_IDLE_TIMEOUT_MS must be/);
  assertConfigError(() => resolveConfig({ env: { BTFD_LOG_LEVEL: 'loud' }, file: null }), /^BTFD_LOG_LEVEL must be one of fatal, error/);
  assertConfigError(() => resolveConfig({ flags: { pahole: ' ' }, file: null }), /^--pahole must be a non-empty string/);

  const home = tempHome(t);
  const file = path.join(home, 'config.json');
  fs.writeFileSync(file, JSON.stringify({ workers: 'x' }));
  assertConfigError(() => resolveConfig({ env: { BTFD_HOME: home } }), new RegExp(`^${file}: workers must be`));
  fs.writeFileSync(file, JSON.stringify({ wokers: 2 }));
  assertConfigError(() => resolveConfig({ env: { BTFD_HOME: home } }), /unknown option "wokers"/);
  fs.writeFileSync(file, '{ not json');
  assertConfigError(() => resolveConfig({ env: { BTFD_HOME: home } }), /is not valid JSON/);
  assertConfigError(() => resolveConfig({ file: path.join(home, 'missing.json') }), /cannot read config file/);
});

test('sizes accept bytes and binary units', () => {
  assert.equal(parseSize('500M', 'x'), 500 * 1024 ** 2);
  assert.equal(parseSize('2G', 'x'), 2 * 1024 ** 3);
  assert.equal(parseSize('1.5GiB', 'x'), 1.5 * 1024 ** 3);
  assert.equal(parseSize('64k', 'x'), 65536);
  assert.equal(parseSize('4096', 'x'), 4096);
  for (const bad of ['', 'G', '0', '-1M', '1 Q', 1.5, 0]) {
    assert.throws(() => parseSize(bad, '--max-size'), /--max-size must be a positive size/, String(bad));
  }
});

test('explicit lists the settings a user set, from any layer; defaults are not in it', (t) => {
  assert.deepEqual(resolveConfig({ env: { BTFD_HOME: '/h' }, file: null }).explicit, []);
  assert.deepEqual(resolveConfig({ env: { BTFD_HOME: '/h', BTFD_PAHOLE: '/p' }, flags: { workers: 2 }, file: null }).explicit, ['pahole', 'workers']);
  const home = tempHome(t);
  fs.writeFileSync(path.join(home, 'config.json'), JSON.stringify({ maxCacheBytes: '1G' }));
  assert.deepEqual(resolveConfig({ env: { BTFD_HOME: home } }).explicit, ['maxCacheBytes']);
  // Only what was set goes to a spawned daemon, so it keeps knowing which values are defaults.
  assert.deepEqual(configToDaemonArgs(resolveConfig({ env: { BTFD_HOME: '/h' }, file: null })), ['--home', '/h']);
});

test('BTFD_HOME through a symlink is the real home: one daemon, checked where it really is', (t) => {
  const home = tempHome(t);
  const link = `${home}-link`;
  fs.symlinkSync(home, link);
  t.after(() => fs.rmSync(link, { force: true }));
  const viaLink = resolveConfig({ env: { BTFD_HOME: link }, file: null });
  const direct = resolveConfig({ env: { BTFD_HOME: home }, file: null });
  assert.equal(viaLink.home, fs.realpathSync(home));
  assert.equal(viaLink.socketPath, direct.socketPath);
  assert.equal(viaLink.cacheDir, direct.cacheDir);
  // A home that does not exist yet is taken as written (the daemon creates it).
  assert.equal(resolveConfig({ env: { BTFD_HOME: '/nonexistent/h' }, file: null }).home, '/nonexistent/h');
});

test('the daemon command line round-trips to the same config', () => {
  const config = resolveConfig({ env: { BTFD_HOME: '/h' }, flags: { workers: 3, pahole: '/p', maxCacheBytes: '3G', idleTimeoutMs: 9, logLevel: 'warn' }, file: null });
  const { values } = parseArgs({ args: configToDaemonArgs(config), options: DAEMON_ARG_OPTIONS, strict: true });
  assert.deepEqual(resolveConfig({ flags: daemonArgsToFlags(values), file: null }), config);
});

test('the remote cache: URL kinds, the options that go with it, off', () => {
  const http = resolveConfig({ env: { BTFD_REMOTE_CACHE: 'http://cache.lan:8080/btfd/', BTFD_REMOTE_READONLY: '1', BTFD_REMOTE_SALT: 's1', BTFD_REMOTE_TIMEOUT_MS: '750' }, file: null }).remote;
  assert.ok(http);
  assert.deepEqual([http.kind, http.location, http.readOnly, http.salt, http.timeoutMs, http.ttlSeconds, http.token], ['http', 'http://cache.lan:8080/btfd', true, 's1', 750, null, null]);
  assert.ok(Object.isFrozen(http));
  const redis = resolveConfig({ env: { BTFD_REMOTE_CACHE: 'rediss://redis.lan:6380/2', BTFD_REMOTE_TTL: '7d' }, file: null }).remote;
  assert.deepEqual([redis?.kind, redis?.location, redis?.ttlSeconds, redis?.timeoutMs, redis?.readOnly], ['redis', 'rediss://redis.lan:6380/2', 7 * 86_400, DEFAULT_REMOTE_TIMEOUT_MS, false]);
  assert.equal(resolveConfig({ env: {}, file: null }).remote, null);
  assert.equal(resolveConfig({ env: { BTFD_REMOTE_CACHE: 'http://x' }, flags: { remoteCache: 'off' }, file: null }).remote, null, 'off wins from a higher layer');
  assert.equal(resolveConfig({ flags: { remoteCache: 'redis://r', remoteReadOnly: true, remoteTtl: 90 }, file: null }).remote?.ttlSeconds, 90);

  assertConfigError(() => resolveConfig({ env: { BTFD_REMOTE_CACHE: 'ftp://x' }, file: null }), /^BTFD_REMOTE_CACHE must be an http:\/\/, https:\/\/, redis:\/\/ or rediss:\/\/ URL/);
  assertConfigError(() => resolveConfig({ env: { BTFD_REMOTE_CACHE: 'not a url' }, file: null }), /^BTFD_REMOTE_CACHE must be a URL/);
  assertConfigError(() => resolveConfig({ env: { BTFD_REMOTE_CACHE: 'redis://r/db' }, file: null }), /database number/);
  assertConfigError(() => resolveConfig({ env: { BTFD_REMOTE_CACHE: 'http://x?a=1' }, file: null }), /without a query/);
  assertConfigError(() => resolveConfig({ env: { BTFD_REMOTE_CACHE: 'http://x', BTFD_REMOTE_TTL: '1h' }, file: null }), /^BTFD_REMOTE_TTL must be unset for an HTTP cache/);
  assertConfigError(() => resolveConfig({ env: { BTFD_REMOTE_CACHE: 'redis://r', BTFD_REMOTE_TTL: '3w' }, file: null }), /^BTFD_REMOTE_TTL must be a positive duration/);
  assertConfigError(() => resolveConfig({ env: { BTFD_REMOTE_CACHE: 'http://x', BTFD_REMOTE_READONLY: 'maybe' }, file: null }), /^BTFD_REMOTE_READONLY must be 1 or 0/);
  assertConfigError(() => resolveConfig({ env: { BTFD_REMOTE_CACHE: 'http://x', BTFD_REMOTE_TIMEOUT_MS: '0' }, file: null }), /^BTFD_REMOTE_TIMEOUT_MS must be an integer/);
  assertConfigError(() => resolveConfig({ env: { BTFD_REMOTE_CACHE: 'http://u:p@x', BTFD_REMOTE_CACHE_TOKEN: 't' }, file: null }), /both set: keep one/);
});

test('remote credentials never show: not in errors, JSON, inspect, the config hash or the daemon command line', () => {
  const secret = 'pa55-w0rd-%2F-xyzzy';
  assertConfigError(() => resolveConfig({ env: { BTFD_REMOTE_CACHE: `gopher://u:${secret}@x` }, file: null }), /the value is not shown/);
  try {
    resolveConfig({ env: { BTFD_REMOTE_CACHE: `gopher://u:${secret}@x` }, file: null });
  } catch (err) {
    assert.ok(!String((err as Error).message).includes(secret));
  }
  const config = resolveConfig({ env: { BTFD_REMOTE_CACHE: `https://ci:${secret}@cache.lan/btfd` }, file: null });
  assert.equal(config.remote?.location, 'https://cache.lan/btfd');
  assert.equal(config.remote?.url.reveal(), `https://ci:${secret}@cache.lan/btfd`, 'the backend still gets it');
  for (const text of [JSON.stringify(config), inspect(config, { depth: 10 }), `${config.remote?.url}`, String(describeRemote(config.remote)), configToDaemonArgs(config).join(' ')]) {
    assert.ok(!text.includes(secret) && !text.includes('pa55'), text);
  }
  const token = resolveConfig({ env: { BTFD_REMOTE_CACHE: 'redis://r', BTFD_REMOTE_CACHE_TOKEN: secret }, file: null });
  assert.ok(!JSON.stringify(token).includes(secret));
  assert.equal(token.remote?.token?.reveal(), secret);
});

test('the remote travels to a spawned daemon in its environment, never on its command line; hello shows it without credentials', () => {
  const env = { BTFD_HOME: '/h', BTFD_REMOTE_CACHE: 'redis://u:one@r:6379', BTFD_REMOTE_READONLY: '1' };
  const config = resolveConfig({ env, file: null });
  assert.equal(describeRemote(config.remote), 'redis://r:6379 (read-only)');
  assert.equal(describeRemote(resolveConfig({ env: { BTFD_HOME: '/h' }, file: null }).remote), null);
  assert.ok(!configToDaemonArgs(config).some((arg) => arg.includes('redis') || arg.includes('remote')), configToDaemonArgs(config).join(' '));
  const full = resolveConfig({ env: { BTFD_HOME: '/h', BTFD_REMOTE_CACHE: 'redis://r', BTFD_REMOTE_CACHE_TOKEN: 'tok', BTFD_REMOTE_READONLY: 'true', BTFD_REMOTE_SALT: 's', BTFD_REMOTE_TIMEOUT_MS: '42', BTFD_REMOTE_TTL: '1h' }, file: null });
  const spawned = resolveConfig({ env: { BTFD_HOME: '/h', ...configToDaemonEnv(full) }, file: null });
  assert.equal(describeRemote(spawned.remote), describeRemote(full.remote));
  assert.deepEqual([spawned.remote?.url.reveal(), spawned.remote?.token?.reveal(), spawned.remote?.timeoutMs, spawned.remote?.ttlSeconds], ['redis://r', 'tok', 42, 3600]);
  // A remote the client turned off stays off in the daemon, whatever its config file says.
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'btfd-'));
  try {
    fs.writeFileSync(path.join(home, 'config.json'), JSON.stringify({ remoteCache: 'http://file-cache' }));
    const off = resolveConfig({ env: { BTFD_HOME: home }, flags: { remoteCache: 'off' } });
    assert.equal(resolveConfig({ env: { BTFD_HOME: home, ...configToDaemonEnv(off) } }).remote, null);
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});
