/**
 * Where btfd keeps its files, and how its directories are kept private.
 *
 * Layout:
 * - `BTFD_HOME=DIR`: everything under DIR: `DIR/run/btfd.sock`, `DIR/cache`, `DIR/state/btfd.log`,
 *   `DIR/config.json`. This is how tests and benchmarks isolate instances.
 * - otherwise the XDG base dirs: `$XDG_RUNTIME_DIR/btfd` (socket), `$XDG_CACHE_HOME/btfd`
 *   (cache, default `~/.cache/btfd`), `$XDG_STATE_HOME/btfd` (logs, default `~/.local/state/btfd`),
 *   `$XDG_CONFIG_HOME/btfd/config.json`. Without XDG_RUNTIME_DIR the socket goes to `/tmp/btfd-<uid>`.
 *
 * A unix socket path is limited to 107 bytes (sun_path is 108 with its NUL). When the socket path
 * would be longer, the runtime dir moves to `/tmp/btfd-<uid>-<hash>`, keyed by the long path so
 * that each home still gets its own daemon.
 *
 * The runtime dir is what keeps other users away from the socket, so every dir btfd creates is
 * 0700, and an existing one is refused when it is a symlink, owned by someone else, or writable by
 * group or others (someone else could then swap the socket or the cache under us).
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { BtfdError } from './errors.js';

/** The longest unix socket path the kernel accepts, in bytes (sun_path minus its NUL). */
export const SOCKET_PATH_MAX_BYTES = 107;
/** The socket's file name inside the runtime dir. */
export const SOCKET_FILE_NAME = 'btfd.sock';
/** The daemon's log file name inside the state dir. */
export const LOG_FILE_NAME = 'btfd.log';
/** The config file name (in BTFD_HOME, or in `$XDG_CONFIG_HOME/btfd`). */
export const CONFIG_FILE_NAME = 'config.json';
/** The client's spawn lock file name inside the runtime dir. */
export const SPAWN_LOCK_FILE_NAME = 'spawn.lock';
/** Short private runtime dirs live here when the regular socket path is too long. */
const SHORT_RUNTIME_PARENT = '/tmp';
const PRIVATE_DIR_MODE = 0o700;
const GROUP_OR_WORLD_WRITABLE = 0o022;

/** An environment as `process.env` gives it; only main.ts and the CLI pass the real one in. */
export type Env = Readonly<Record<string, string | undefined>>;

/** Where one btfd instance keeps its files. All paths are absolute. */
export interface Layout {
  /** BTFD_HOME when set, else null (XDG layout). */
  readonly home: string | null;
  /** The socket's dir (private, 0700). */
  readonly runtimeDir: string;
  readonly socketPath: string;
  readonly cacheDir: string;
  /** Logs live here. */
  readonly stateDir: string;
  readonly logPath: string;
  /** Where the optional config file is looked for. */
  readonly defaultConfigFile: string;
}

/** What the layout depends on besides the environment. */
export interface LayoutInputs {
  readonly home: string | null;
  readonly env: Env;
  readonly uid: number;
  /** The user's home dir (for `~/.cache` and friends). */
  readonly userHome: string;
}

/** The current user's uid and home dir. */
export interface CurrentUser {
  readonly uid: number;
  readonly home: string;
}

/**
 * The current user, without trusting the passwd database to have an entry: containers often run
 * under a bare uid, where os.userInfo() throws. HOME wins over passwd, as in every shell.
 */
export function currentUser(env: Env): CurrentUser {
  const uid = process.getuid?.() ?? 0;
  let home = env['HOME'];
  if (home === undefined || home === '') {
    try {
      home = os.userInfo().homedir;
    } catch {
      home = '/';
    }
  }
  return { uid, home };
}

/** An XDG variable, ignored unless absolute (the XDG spec says relative values are invalid). */
function xdgDir(env: Env, name: string, fallback: string): string {
  const value = env[name];
  return value !== undefined && path.isAbsolute(value) ? value : fallback;
}

/** `/tmp/btfd-<uid>-<hash>`: a short private runtime dir standing in for `wanted`. */
export function shortRuntimeDir(uid: number, wanted: string): string {
  // node:crypto only when a path is this long: loading it costs every CLI command a few ms.
  const { createHash } = createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto');
  const hash = createHash('sha256').update(wanted).digest('hex').slice(0, 12);
  return path.join(SHORT_RUNTIME_PARENT, `btfd-${uid}-${hash}`);
}

/** Resolve every path of an instance. Pure: reads no environment of its own and touches no file. */
export function resolveLayout(inputs: LayoutInputs): Layout {
  const { home, env, uid, userHome } = inputs;
  let runtimeDir: string;
  let cacheDir: string;
  let stateDir: string;
  let defaultConfigFile: string;
  if (home !== null) {
    runtimeDir = path.join(home, 'run');
    cacheDir = path.join(home, 'cache');
    stateDir = path.join(home, 'state');
    defaultConfigFile = path.join(home, CONFIG_FILE_NAME);
  } else {
    const xdgRuntime = env['XDG_RUNTIME_DIR'];
    runtimeDir = xdgRuntime !== undefined && path.isAbsolute(xdgRuntime)
      ? path.join(xdgRuntime, 'btfd')
      : path.join(SHORT_RUNTIME_PARENT, `btfd-${uid}`);
    cacheDir = path.join(xdgDir(env, 'XDG_CACHE_HOME', path.join(userHome, '.cache')), 'btfd');
    stateDir = path.join(xdgDir(env, 'XDG_STATE_HOME', path.join(userHome, '.local', 'state')), 'btfd');
    defaultConfigFile = path.join(xdgDir(env, 'XDG_CONFIG_HOME', path.join(userHome, '.config')), 'btfd', CONFIG_FILE_NAME);
  }
  let socketPath = path.join(runtimeDir, SOCKET_FILE_NAME);
  if (Buffer.byteLength(socketPath) > SOCKET_PATH_MAX_BYTES) {
    runtimeDir = shortRuntimeDir(uid, socketPath);
    socketPath = path.join(runtimeDir, SOCKET_FILE_NAME);
  }
  return {
    home,
    runtimeDir,
    socketPath,
    cacheDir,
    stateDir,
    logPath: path.join(stateDir, LOG_FILE_NAME),
    defaultConfigFile,
  };
}

/**
 * Refuse `dir` unless it is a real directory owned by `uid` and not writable by group or others.
 * @throws BtfdError BTFD_ERR_HOME_INSECURE
 */
export function checkPrivateDir(dir: string, uid: number = currentUser({}).uid): void {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(dir);
  } catch (err) {
    throw new BtfdError('BTFD_ERR_HOME_INSECURE', `cannot inspect ${dir}: ${(err as Error).message}`, { cause: err });
  }
  if (stat.isSymbolicLink()) {
    throw new BtfdError('BTFD_ERR_HOME_INSECURE', `${dir} is a symlink; btfd keeps its files only in real directories`);
  }
  if (!stat.isDirectory()) {
    throw new BtfdError('BTFD_ERR_HOME_INSECURE', `${dir} is not a directory`);
  }
  if (stat.uid !== uid) {
    throw new BtfdError('BTFD_ERR_HOME_INSECURE', `${dir} is owned by uid ${stat.uid}, not by you (uid ${uid})`);
  }
  if ((stat.mode & GROUP_OR_WORLD_WRITABLE) !== 0) {
    const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
    throw new BtfdError('BTFD_ERR_HOME_INSECURE', `${dir} is writable by group or others (mode ${mode})`);
  }
}

/**
 * Create `dir` (and missing parents) with mode 0700, then check it with {@link checkPrivateDir}.
 * An existing dir is checked, never loosened or tightened behind the user's back.
 * @throws BtfdError BTFD_ERR_HOME_INSECURE
 */
export function ensurePrivateDir(dir: string, uid: number = currentUser({}).uid): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  } catch (err) {
    throw new BtfdError('BTFD_ERR_HOME_INSECURE', `cannot create ${dir}: ${(err as Error).message}`, { cause: err });
  }
  checkPrivateDir(dir, uid);
}
