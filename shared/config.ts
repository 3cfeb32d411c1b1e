/**
 * Config resolution: defaults < config file < environment < flags, validated once, then frozen.
 *
 * This module never reads `process.env` itself: main.ts and the CLI pass it in, so tests resolve
 * any config they like. Every validation message names the option the way the user wrote it
 * (`--workers`, `BTFD_WORKERS`, or `config.json: workers`).
 *
 * The daemon and the client resolve their configs separately. What a build depends on (pahole,
 * flags, base) travels with each request, so a client whose settings differ from the daemon's
 * never restarts it for them; only the cache dir, the daemon's own place, is part of its identity
 * in the handshake (client/connect.ts).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BtfdError } from './errors.js';
import { currentUser, resolveLayout, type Env, type Layout } from './paths.js';
import { Secret } from './secret.js';

/** pino's levels, plus `silent`. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Defaults, with units in their names. */
export const DEFAULT_MAX_CACHE_BYTES = 2 * 1024 ** 3;
export const DEFAULT_IDLE_TIMEOUT_MS = 60 * 60 * 1000;
/** pahole's wall time on one module before it is killed: generous, a big module takes seconds. */
export const DEFAULT_PAHOLE_TIMEOUT_MS = 10 * 60 * 1000;
/**
 * Dirs one watched tree may have. chokidar takes an inotify watch and ~16 KB of memory per dir,
 * and its initial scan blocks the event loop in stretches (measured: 1.6 s at 10,000 dirs, 4.1 s
 * at 15,000, see docs/reliability.md); a kernel build dir has a few thousand. 200,000 once took
 * 2.3 GB and every inotify watch.
 */
export const DEFAULT_WATCH_MAX_DIRS = 10_000;
export const DEFAULT_PAHOLE = 'pahole';
export const DEFAULT_LOG_LEVEL: LogLevel = 'info';
/** A remote request (connect included) that takes longer has failed: the most a remote can stall a build per request. */
export const DEFAULT_REMOTE_TIMEOUT_MS = 5_000;
const MAX_REMOTE_TIMEOUT_MS = 10 * 60 * 1000;
const MAX_WORKERS = 1024;
/** The value of BTFD_REMOTE_CACHE (or a flag) that turns a configured remote off. */
export const REMOTE_CACHE_OFF = 'off';

/** The kinds of remote cache: the bazel-remote HTTP protocol, or Redis. */
export type RemoteKind = 'http' | 'redis';

/** A team cache behind the local one (see docs/remote-cache.md). */
export interface RemoteCacheConfig {
  readonly kind: RemoteKind;
  /** Where it is, credentials removed: what logs, status and the config hash see. */
  readonly location: string;
  /** The URL as configured, credentials included: for the backend and a spawned daemon only. */
  readonly url: Secret;
  /** BTFD_REMOTE_CACHE_TOKEN: the HTTP bearer token, or the Redis password. */
  readonly token: Secret | null;
  /** Read from the remote, never write to it. */
  readonly readOnly: boolean;
  /** Mixed into every action key sent to the remote: a new salt disowns every entry made under the old one. */
  readonly salt: string;
  /** Each remote request fails after this long. */
  readonly timeoutMs: number;
  /** Redis only: entries expire this long after they were last written or read; null keeps them. */
  readonly ttlSeconds: number | null;
}

/** The resolved, validated configuration of one btfd instance: its paths, then its settings. */
export interface Config extends Omit<Layout, 'defaultConfigFile'> {
  /** The config file that was read, or null when there was none. */
  readonly configFile: string | null;
  /** pahole's path, or a name looked up in PATH. */
  readonly pahole: string;
  /** Worker pool size. */
  readonly workers: number;
  /** Cache size limit for LRU eviction. */
  readonly maxCacheBytes: number;
  /** The daemon exits after this long without requests; 0 disables idle exit. */
  readonly idleTimeoutMs: number;
  /** pahole is killed (its whole process group) after this long on one module. */
  readonly paholeTimeoutMs: number;
  readonly logLevel: LogLevel;
  /** Relocate cached module BTF onto a new base instead of running pahole, where exact. */
  readonly relocate: boolean;
  /** Dirs a watched tree may have before `watch` refuses it (BTFD_ERR_WATCH_TOO_LARGE). */
  readonly watchMaxDirs: number;
  /** The remote cache tier, or null for a local cache only. */
  readonly remote: RemoteCacheConfig | null;
  /** The settings a file, the environment or a flag set (the rest are defaults). */
  readonly explicit: readonly SettingName[];
}

/** Command-line flags (commander gives strings; numbers are accepted too). */
export interface ConfigFlags {
  readonly home?: string;
  readonly pahole?: string;
  readonly workers?: number | string;
  /** Bytes, or a size such as `500M` or `2G`. */
  readonly maxCacheBytes?: number | string;
  readonly idleTimeoutMs?: number | string;
  readonly paholeTimeoutMs?: number | string;
  readonly logLevel?: string;
  /** `1`/`0` (or a boolean). */
  readonly relocate?: boolean | string;
  readonly watchMaxDirs?: number | string;
  /** A remote cache URL, or `off`. */
  readonly remoteCache?: string;
  readonly remoteReadOnly?: boolean | string;
  readonly remoteSalt?: string;
  readonly remoteTimeoutMs?: number | string;
  /** Seconds, or a duration such as `7d`. */
  readonly remoteTtl?: number | string;
}

/** What {@link resolveConfig} reads. */
export interface ConfigSources {
  readonly flags?: ConfigFlags;
  /** The environment (pass `process.env`); defaults to an empty one. */
  readonly env?: Env;
  /**
   * The config file: a path (it must exist), null for none, or undefined for the default
   * location (`$BTFD_HOME/config.json`, else `$XDG_CONFIG_HOME/btfd/config.json`; optional).
   */
  readonly file?: string | null;
}

/** The keys a config file may set. */
const FILE_KEYS = [
  'pahole', 'workers', 'maxCacheBytes', 'idleTimeoutMs', 'paholeTimeoutMs', 'logLevel', 'relocate', 'watchMaxDirs',
  'remoteCache', 'remoteCacheToken', 'remoteReadOnly', 'remoteSalt', 'remoteTimeoutMs', 'remoteTtl',
] as const;
type FileKey = (typeof FILE_KEYS)[number];
/** A setting's name, as a config file spells it. */
export type SettingName = FileKey;

/** One layer of raw values, each with the name the user knows it by. */
interface Layer {
  readonly values: Partial<Record<FileKey, unknown>>;
  readonly nameOf: (key: FileKey) => string;
}

const ENV_NAMES: Record<FileKey, string> = {
  pahole: 'BTFD_PAHOLE',
  workers: 'BTFD_WORKERS',
  maxCacheBytes: 'BTFD_MAX_CACHE_SIZE',
  idleTimeoutMs: 'BTFD_IDLE_TIMEOUT_MS',
  paholeTimeoutMs: 'BTFD_PAHOLE_TIMEOUT_MS',
  logLevel: 'BTFD_LOG_LEVEL',
  relocate: 'BTFD_RELOCATE',
  watchMaxDirs: 'BTFD_WATCH_MAX_DIRS',
  remoteCache: 'BTFD_REMOTE_CACHE',
  remoteCacheToken: 'BTFD_REMOTE_CACHE_TOKEN',
  remoteReadOnly: 'BTFD_REMOTE_READONLY',
  remoteSalt: 'BTFD_REMOTE_SALT',
  remoteTimeoutMs: 'BTFD_REMOTE_TIMEOUT_MS',
  remoteTtl: 'BTFD_REMOTE_TTL',
};

/** The token has no flag on purpose: a command line shows in `ps` and in shell history. */
const FLAG_NAMES: Record<Exclude<FileKey, 'remoteCacheToken'>, string> = {
  pahole: '--pahole',
  workers: '--workers',
  maxCacheBytes: '--max-cache-size',
  idleTimeoutMs: '--idle-timeout-ms',
  paholeTimeoutMs: '--pahole-timeout-ms',
  logLevel: '--log-level',
  relocate: '--relocate',
  watchMaxDirs: '--watch-max-dirs',
  remoteCache: '--remote-cache',
  remoteReadOnly: '--remote-readonly',
  remoteSalt: '--remote-salt',
  remoteTimeoutMs: '--remote-timeout-ms',
  remoteTtl: '--remote-ttl',
};

const SIZE_UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

function invalid(option: string, requirement: string, value: unknown): BtfdError {
  return new BtfdError('BTFD_ERR_CONFIG_INVALID', `${option} must be ${requirement}, got ${JSON.stringify(value)}`);
}

/**
 * Parse a size: a byte count, or a number with a binary unit (`500M`, `2G`, `1.5GiB`, `64k`).
 * @param option the option's name, for the error message
 * @throws BtfdError BTFD_ERR_CONFIG_INVALID
 */
export function parseSize(value: unknown, option: string): number {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value > 0) return value;
    throw invalid(option, 'a positive size such as 500M or 2G', value);
  }
  const match = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(value) : null;
  const unit = SIZE_UNITS[(match?.[2] ?? '').toUpperCase()];
  const bytes = match && unit !== undefined ? Math.floor(Number(match[1]) * unit) : NaN;
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw invalid(option, 'a positive size such as 500M or 2G', value);
  return bytes;
}

function parseInteger(value: unknown, option: string, min: number, max: number): number {
  const n = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > max) {
    throw invalid(option, `an integer from ${min} to ${max}`, value);
  }
  return n;
}

function parseNonEmpty(value: unknown, option: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw invalid(option, 'a non-empty string', value);
  return value;
}

function parseLogLevel(value: unknown, option: string): LogLevel {
  const found = LOG_LEVELS.find((level) => level === value);
  if (found === undefined) throw invalid(option, `one of ${LOG_LEVELS.join(', ')}`, value);
  return found;
}

function parseBoolean(value: unknown, option: string): boolean {
  if (typeof value === 'boolean') return value;
  const text = typeof value === 'string' ? value.trim().toLowerCase() : '';
  if (['1', 'true', 'yes', 'on'].includes(text)) return true;
  if (['0', 'false', 'no', 'off'].includes(text)) return false;
  throw invalid(option, '1 or 0 (true or false)', value);
}

const DURATION_UNITS_S: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 };

/** Seconds, or a whole number with a unit: `90`, `30m`, `12h`, `7d`. */
function parseDurationSeconds(value: unknown, option: string): number {
  const match = typeof value === 'number' ? [String(value), String(value), ''] : typeof value === 'string' ? /^\s*(\d+)\s*([smhd]?)\s*$/i.exec(value) : null;
  const unit = DURATION_UNITS_S[(match?.[2] ?? '').toLowerCase()];
  const seconds = match && unit !== undefined ? Number(match[1]) * unit : NaN;
  if (!Number.isSafeInteger(seconds) || seconds <= 0) throw invalid(option, 'a positive duration such as 3600, 12h or 7d', value);
  return seconds;
}

type Picked = { value: unknown; option: string } | undefined;

/**
 * The remote tier's settings, validated together: the URL decides which of the others apply.
 * The URL's credentials stay inside a Secret; `location` is the URL without them.
 */
function resolveRemote(pickKey: (key: FileKey) => Picked): RemoteCacheConfig | null {
  const source = pickKey('remoteCache');
  if (source === undefined) return null;
  const text = parseNonEmpty(source.value, source.option).trim();
  if (text === REMOTE_CACHE_OFF) return null;
  // Never echo the value back: it may hold a password.
  const malformed = (requirement: string) =>
    new BtfdError('BTFD_ERR_CONFIG_INVALID', `${source.option} must be ${requirement} (the value is not shown: it may hold credentials)`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw malformed('a URL such as http://host:8080/prefix, https://…, redis://host:6379 or rediss://…');
  }
  const kind: RemoteKind | undefined = url.protocol === 'http:' || url.protocol === 'https:' ? 'http' : url.protocol === 'redis:' || url.protocol === 'rediss:' ? 'redis' : undefined;
  if (kind === undefined) throw malformed('an http://, https://, redis:// or rediss:// URL');
  if (url.hostname === '') throw malformed('a URL with a host');
  if (url.search !== '' || url.hash !== '') throw malformed('a URL without a query or fragment');
  if (kind === 'redis' && !/^\/?(\d+)?$/.test(url.pathname)) throw malformed('a Redis URL whose path is a database number, as in redis://host:6379/0');
  const tokenPick = pickKey('remoteCacheToken');
  const token = tokenPick === undefined ? null : new Secret(parseNonEmpty(tokenPick.value, tokenPick.option));
  if (token !== null && (url.username !== '' || url.password !== '')) {
    throw new BtfdError('BTFD_ERR_CONFIG_INVALID', `${tokenPick!.option} and credentials in ${source.option} are both set: keep one`);
  }
  const readOnly = pickKey('remoteReadOnly');
  const salt = pickKey('remoteSalt');
  const timeout = pickKey('remoteTimeoutMs');
  const ttl = pickKey('remoteTtl');
  if (ttl !== undefined && kind !== 'redis') throw invalid(ttl.option, 'unset for an HTTP cache (its server evicts entries; a TTL applies to redis:// caches)', ttl.value);
  const path = url.pathname.replace(/\/+$/, '');
  return {
    kind,
    location: `${url.protocol}//${url.host}${path}`,
    url: new Secret(text),
    token,
    readOnly: readOnly ? parseBoolean(readOnly.value, readOnly.option) : false,
    salt: salt ? String(salt.value) : '',
    timeoutMs: timeout ? parseInteger(timeout.value, timeout.option, 1, MAX_REMOTE_TIMEOUT_MS) : DEFAULT_REMOTE_TIMEOUT_MS,
    ttlSeconds: ttl ? parseDurationSeconds(ttl.value, ttl.option) : null,
  };
}

/** The topmost layer that sets `key`, with the option's user-facing name. */
function pick(layers: readonly Layer[], key: FileKey): { value: unknown; option: string } | undefined {
  for (const layer of layers) {
    const value = layer.values[key];
    if (value !== undefined) return { value, option: layer.nameOf(key) };
  }
  return undefined;
}

function readConfigFile(file: string, required: boolean): Layer | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (!required && (err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new BtfdError('BTFD_ERR_CONFIG_INVALID', `cannot read config file ${file}: ${(err as Error).message}`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new BtfdError('BTFD_ERR_CONFIG_INVALID', `config file ${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new BtfdError('BTFD_ERR_CONFIG_INVALID', `config file ${file} must hold a JSON object`);
  }
  const values: Partial<Record<FileKey, unknown>> = {};
  for (const [key, value] of Object.entries(parsed)) {
    const known = FILE_KEYS.find((k) => k === key);
    if (known === undefined) {
      throw new BtfdError('BTFD_ERR_CONFIG_INVALID', `${file}: unknown option ${JSON.stringify(key)} (known: ${FILE_KEYS.join(', ')})`);
    }
    values[known] = value;
  }
  return { values, nameOf: (key) => `${file}: ${key}` };
}

function envLayer(env: Env): Layer {
  const values: Partial<Record<FileKey, unknown>> = {};
  for (const key of FILE_KEYS) {
    const value = env[ENV_NAMES[key]];
    if (value !== undefined && value !== '') values[key] = value;
  }
  return { values, nameOf: (key) => ENV_NAMES[key] };
}

function flagLayer(flags: ConfigFlags): Layer {
  const values: Partial<Record<FileKey, unknown>> = {};
  for (const key of Object.keys(FLAG_NAMES) as (keyof typeof FLAG_NAMES)[]) {
    if (flags[key] !== undefined) values[key] = flags[key];
  }
  return { values, nameOf: (key) => (key === 'remoteCacheToken' ? ENV_NAMES[key] : FLAG_NAMES[key]) };
}

/**
 * BTFD_HOME as an absolute path, symlinks resolved when it exists: one home named two ways (a
 * symlink, `..`) is one daemon, and the private-dir checks apply to the real directory.
 */
function resolveHome(flags: ConfigFlags, env: Env): string | null {
  const fromFlag = flags.home;
  const raw = fromFlag ?? (env['BTFD_HOME'] === '' ? undefined : env['BTFD_HOME']);
  if (raw === undefined) return null;
  if (raw.trim() === '') throw invalid(fromFlag !== undefined ? '--home' : 'BTFD_HOME', 'a directory path', raw);
  const absolute = path.resolve(raw);
  try {
    return fs.realpathSync(absolute);
  } catch {
    return absolute; // not created yet: the daemon creates it
  }
}

/**
 * Resolve the configuration: defaults < config file < env < flags.
 * @throws BtfdError BTFD_ERR_CONFIG_INVALID naming the offending option
 */
export function resolveConfig(sources: ConfigSources = {}): Readonly<Config> {
  const flags = sources.flags ?? {};
  const env = sources.env ?? {};
  const user = currentUser(env);
  const home = resolveHome(flags, env);
  const layout = resolveLayout({ home, env, uid: user.uid, userHome: user.home });

  const fileLayer = sources.file === null
    ? null
    : readConfigFile(sources.file ?? layout.defaultConfigFile, sources.file !== undefined);
  // Topmost first.
  const layers: Layer[] = [flagLayer(flags), envLayer(env)];
  if (fileLayer !== null) layers.push(fileLayer);

  const pahole = pick(layers, 'pahole');
  const workers = pick(layers, 'workers');
  const maxCache = pick(layers, 'maxCacheBytes');
  const idle = pick(layers, 'idleTimeoutMs');
  const paholeTimeout = pick(layers, 'paholeTimeoutMs');
  const logLevel = pick(layers, 'logLevel');
  const relocate = pick(layers, 'relocate');
  const watchMaxDirs = pick(layers, 'watchMaxDirs');

  const config: Config = {
    home,
    runtimeDir: layout.runtimeDir,
    socketPath: layout.socketPath,
    cacheDir: layout.cacheDir,
    stateDir: layout.stateDir,
    logPath: layout.logPath,
    configFile: fileLayer === null ? null : (sources.file ?? layout.defaultConfigFile),
    pahole: pahole ? parseNonEmpty(pahole.value, pahole.option) : DEFAULT_PAHOLE,
    workers: workers ? parseInteger(workers.value, workers.option, 1, MAX_WORKERS) : os.availableParallelism(),
    maxCacheBytes: maxCache ? parseSize(maxCache.value, maxCache.option) : DEFAULT_MAX_CACHE_BYTES,
    idleTimeoutMs: idle ? parseInteger(idle.value, idle.option, 0, 2 ** 31 - 1) : DEFAULT_IDLE_TIMEOUT_MS,
    paholeTimeoutMs: paholeTimeout ? parseInteger(paholeTimeout.value, paholeTimeout.option, 1, 2 ** 31 - 1) : DEFAULT_PAHOLE_TIMEOUT_MS,
    logLevel: logLevel ? parseLogLevel(logLevel.value, logLevel.option) : DEFAULT_LOG_LEVEL,
    relocate: relocate ? parseBoolean(relocate.value, relocate.option) : true,
    watchMaxDirs: watchMaxDirs ? parseInteger(watchMaxDirs.value, watchMaxDirs.option, 1, 10_000_000) : DEFAULT_WATCH_MAX_DIRS,
    remote: resolveRemote((key) => pick(layers, key)),
    explicit: FILE_KEYS.filter((key) => pick(layers, key) !== undefined),
  };
  if (config.remote !== null) Object.freeze(config.remote);
  return Object.freeze(config);
}

/**
/** A remote as status and notes show it: where, and whether read-only (never credentials). */
export function describeRemote(remote: RemoteCacheConfig | null): string | null {
  return remote === null ? null : `${remote.location}${remote.readOnly ? ' (read-only)' : ''}`;
}

/**
 * The remote settings for a spawned daemon's environment. They travel there rather than on its
 * command line because the URL may carry credentials, and a command line is readable by every
 * user (`ps`); `off` overrides a remote that the config file sets but the client turned off.
 */
export function configToDaemonEnv(config: Config): Record<string, string> {
  const remote = config.remote;
  if (remote === null) return { [ENV_NAMES.remoteCache]: REMOTE_CACHE_OFF };
  return {
    [ENV_NAMES.remoteCache]: remote.url.reveal(),
    [ENV_NAMES.remoteCacheToken]: remote.token?.reveal() ?? '',
    [ENV_NAMES.remoteReadOnly]: remote.readOnly ? '1' : '0',
    [ENV_NAMES.remoteSalt]: remote.salt,
    [ENV_NAMES.remoteTimeoutMs]: String(remote.timeoutMs),
    [ENV_NAMES.remoteTtl]: remote.ttlSeconds === null ? '' : String(remote.ttlSeconds),
  };
}

/**
 * The daemon's command line for `config`: a spawned daemon resolves exactly the client's values
 * (its environment supplies the same XDG dirs and config file, and {@link configToDaemonEnv} the
 * remote settings). Only the settings the user set are passed, so that the daemon, too, knows
 * which ones are defaults.
 */
export function configToDaemonArgs(config: Config): string[] {
  const args: string[] = [];
  if (config.home !== null) args.push('--home', config.home);
  // The remote settings are not here: they travel in the environment (configToDaemonEnv).
  const values: Partial<Record<keyof typeof FLAG_NAMES, string>> = {
    pahole: config.pahole,
    workers: String(config.workers),
    maxCacheBytes: String(config.maxCacheBytes),
    idleTimeoutMs: String(config.idleTimeoutMs),
    paholeTimeoutMs: String(config.paholeTimeoutMs),
    logLevel: config.logLevel,
    relocate: config.relocate ? '1' : '0',
    watchMaxDirs: String(config.watchMaxDirs),
  };
  for (const name of config.explicit) {
    if (name === 'remoteCacheToken') continue;
    const value = values[name];
    if (value !== undefined) args.push(FLAG_NAMES[name], value);
  }
  return args;
}

/** The option names {@link configToDaemonArgs} writes, for `util.parseArgs`. */
export const DAEMON_ARG_OPTIONS = {
  home: { type: 'string' },
  pahole: { type: 'string' },
  workers: { type: 'string' },
  'max-cache-size': { type: 'string' },
  'idle-timeout-ms': { type: 'string' },
  'pahole-timeout-ms': { type: 'string' },
  'log-level': { type: 'string' },
  relocate: { type: 'string' },
  'watch-max-dirs': { type: 'string' },
} as const;

/** Turn parsed daemon args (see {@link DAEMON_ARG_OPTIONS}) into flags. */
export function daemonArgsToFlags(values: Partial<Record<keyof typeof DAEMON_ARG_OPTIONS, string>>): ConfigFlags {
  const flags: { -readonly [K in keyof ConfigFlags]: ConfigFlags[K] } = {};
  if (values.home !== undefined) flags.home = values.home;
  if (values.pahole !== undefined) flags.pahole = values.pahole;
  if (values.workers !== undefined) flags.workers = values.workers;
  if (values['max-cache-size'] !== undefined) flags.maxCacheBytes = values['max-cache-size'];
  if (values['idle-timeout-ms'] !== undefined) flags.idleTimeoutMs = values['idle-timeout-ms'];
  if (values['pahole-timeout-ms'] !== undefined) flags.paholeTimeoutMs = values['pahole-timeout-ms'];
  if (values['log-level'] !== undefined) flags.logLevel = values['log-level'];
  if (values.relocate !== undefined) flags.relocate = values.relocate;
  if (values['watch-max-dirs'] !== undefined) flags.watchMaxDirs = values['watch-max-dirs'];
  return flags;
}
