/**
 * The one catalog of btfd error codes, shared by the daemon and the client.
 *
 * Every code carries the HTTP status the daemon answers with and the next step a user should
 * take. docs/errors.md documents each code; a test fails when the two disagree. Callers switch on
 * `code`, never on message text.
 */

interface ErrorSpec {
  /** HTTP status the daemon uses when this error answers a request. */
  readonly status: number;
  /** What the user should do next. */
  readonly next: string;
}

export const ERROR_CATALOG = {
  // ELF input
  BTFD_ERR_ELF_NOT_ELF: { status: 422, next: 'Check that the path names a kernel module (.ko) or vmlinux, not another file.' },
  BTFD_ERR_ELF_TRUNCATED: { status: 422, next: 'The file is shorter than its headers say: rebuild it (an interrupted link leaves such files).' },
  BTFD_ERR_ELF_UNSUPPORTED: { status: 422, next: 'btfd reads 64-bit little-endian ELF only (x86_64, arm64, riscv64, …; tested on x86_64): for other targets run pahole directly.' },
  BTFD_ERR_ELF_MALFORMED: { status: 422, next: 'The ELF headers are inconsistent: rebuild the file; if the toolchain produced it, report it with the file attached.' },
  BTFD_ERR_ELF_READ_FAILED: { status: 500, next: 'The file could not be read (permissions or an I/O error, named in the message): make it readable by the daemon\'s user and retry.' },
  BTFD_ERR_ELF_WRITE_FAILED: { status: 500, next: 'Check free space and permissions in the module\'s directory; the original file was left untouched.' },
  // Base BTF
  BTFD_ERR_BASE_MISSING: { status: 422, next: 'Pass --base PATH (a vmlinux with .BTF, or a raw BTF file such as /sys/kernel/btf/vmlinux), or build vmlinux first.' },
  BTFD_ERR_BASE_NO_BTF: { status: 422, next: 'The base has no .BTF section: build vmlinux with CONFIG_DEBUG_INFO_BTF=y, or pass a raw BTF file with --base.' },
  BTFD_ERR_BASE_INVALID: { status: 422, next: 'The base BTF does not start with the BTF magic: pass a vmlinux or a raw BTF file.' },
  BTFD_ERR_BTF_MALFORMED: { status: 422, next: 'The BTF named in the message is not valid BTF: rebuild it (pahole -J), or pass another base.' },
  // Module BTF generation
  BTFD_ERR_MODULE_NO_DWARF: { status: 422, next: 'The module has no DWARF debug info: build with CONFIG_DEBUG_INFO (and not stripped) so pahole can encode BTF.' },
  BTFD_ERR_MODULE_CHANGED: { status: 409, next: 'The module was rewritten while btfd read it (a build still running?): run the build again once the module is written.' },
  BTFD_ERR_MODULE_BTF_IDS_INVALID: { status: 422, next: 'The module\'s .BTF_ids symbols break resolve_btfids\' rules (named in the message): fix the BTF_ID macros or rebuild the module.' },
  BTFD_ERR_MODULE_BTF_IDS_STALE: { status: 422, next: 'The module\'s .BTF_ids was resolved against a vmlinux btfd has not seen: relink the module (make), or build it once with --base pointing at the vmlinux it was built with.' },
  BTFD_ERR_MODULE_NOT_FOUND: { status: 404, next: 'Check the module path; btfd only manages existing .ko files.' },
  // Tools
  BTFD_ERR_TOOL_PAHOLE_MISSING: { status: 500, next: 'Install pahole (Debian/Ubuntu: apt-get install dwarves) or point --pahole / BTFD_PAHOLE at it.' },
  BTFD_ERR_TOOL_PAHOLE_INVALID: { status: 422, next: 'Point --pahole / BTFD_PAHOLE at pahole itself, v1.16 or newer (Debian/Ubuntu: /usr/bin/pahole from dwarves); the message says what the program answered.' },
  BTFD_ERR_TOOL_PAHOLE_FAILED: { status: 500, next: 'pahole exited with an error: read its stderr in the message; run the same pahole command by hand to reproduce.' },
  BTFD_ERR_TOOL_PAHOLE_CRASHED: { status: 500, next: 'pahole was killed by a signal: check memory (pahole needs a lot on large modules) and retry; report a reproducible crash to dwarves.' },
  BTFD_ERR_TOOL_FLAGS_INVALID: { status: 400, next: 'Pass only pahole encoding flags in --pahole-flags (no -J, --btf_base or file names; those are btfd\'s to set).' },
  BTFD_ERR_TOOL_FLAGS_REJECTED: { status: 422, next: 'pahole refused these flags: fix --pahole-flags (`pahole --help` lists what this pahole accepts); the message quotes pahole and the command that shows it.' },
  // Cache
  BTFD_ERR_CACHE_CORRUPT: { status: 500, next: 'A cache blob failed its digest check and was dropped; run `btfd cache verify` and, if it keeps happening, check the disk.' },
  BTFD_ERR_CACHE_UNAVAILABLE: { status: 500, next: 'The cache database could not be opened: check permissions on the cache dir, or move it aside and let btfd create a new one.' },
  // Hostile inputs and containment (issue 13): what btfd refuses to read, write or wait for
  BTFD_ERR_FILE_NOT_REGULAR: { status: 422, next: 'btfd reads and writes regular files only: the path is a FIFO, device or directory (the message says which); replace it with the real file.' },
  BTFD_ERR_FILE_SYMLINK: { status: 422, next: 'btfd does not write through a symlink (its target may lie outside the tree): build the tree the target lives in, or replace the link with the file itself. See docs/trust.md.' },
  BTFD_ERR_FILE_OUTSIDE_TREE: { status: 403, next: 'btfd writes only inside the tree a request names, symlinks resolved: name modules inside --dir (and a detached output inside the module\'s build tree), or build the tree they live in. See docs/trust.md.' },
  BTFD_ERR_FILE_READ_ONLY: { status: 403, next: 'The file is write-protected or owned by another user, so btfd left it as it was (pahole refuses it too): make it yours and writable (chmod u+w), or build as its owner.' },
  BTFD_ERR_FILE_DIR_MISSING: { status: 422, next: 'The directory the output should go to does not exist: create it (kbuild does before it runs pahole) and retry.' },
  BTFD_ERR_MODULE_DELETED: { status: 404, next: 'The module was deleted while btfd built it (make clean?): nothing was written; build again once the module exists.' },
  BTFD_ERR_TOOL_PAHOLE_TIMEOUT: { status: 504, next: 'pahole ran longer than the pahole timeout (BTFD_PAHOLE_TIMEOUT_MS, --pahole-timeout-ms; default 10 minutes) and was killed: run the command in the message by hand to see where it hangs, or raise the timeout for a module that big.' },
  BTFD_ERR_TOOL_PAHOLE_OUTPUT_INVALID: { status: 500, next: 'pahole reported success but wrote no valid BTF (the message says what it wrote); nothing was cached or installed: run the command in the message by hand and check that pahole (and its libbpf) work.' },
  // Remote cache tier: failures are values (a miss for the build), reported in status and logs
  BTFD_ERR_REMOTE_TIMEOUT: { status: 504, next: 'The remote cache did not answer within BTFD_REMOTE_TIMEOUT_MS: check the server and the network (or raise the timeout); builds go on with the local cache meanwhile.' },
  BTFD_ERR_REMOTE_UNREACHABLE: { status: 502, next: 'Check the host and port in BTFD_REMOTE_CACHE and that the server runs; for https, that its certificate is trusted (NODE_EXTRA_CA_CERTS=ca.pem for a private CA).' },
  BTFD_ERR_REMOTE_AUTH: { status: 502, next: 'The remote cache refused the credentials: fix user:password in BTFD_REMOTE_CACHE or BTFD_REMOTE_CACHE_TOKEN, then `btfd stop` so the daemon starts again with them.' },
  BTFD_ERR_REMOTE_FAILED: { status: 502, next: 'The remote cache answered with an error (named in the message): read the server\'s log; btfd tries again once the circuit breaker\'s pause is over.' },
  BTFD_ERR_REMOTE_CORRUPT: { status: 502, next: 'A remote entry failed verification and was not used (the module was rebuilt locally); if it recurs, set a new BTFD_REMOTE_SALT to disown the remote\'s entries and check who writes to it.' },
  BTFD_ERR_REMOTE_UNAVAILABLE: { status: 503, next: 'The remote cache failed repeatedly and is skipped for a while (`btfd status` says until when); builds use the local cache meanwhile; fix the cause named in the last error.' },
  BTFD_ERR_REMOTE_READ_ONLY: { status: 409, next: 'BTFD_REMOTE_READONLY=1 is set, so nothing is uploaded: unset it on the machine that should fill the team cache (CI).' },
  // Trees and configuration
  BTFD_ERR_TREE_NOT_FOUND: { status: 404, next: 'Check the directory path; it must exist and be readable.' },
  BTFD_ERR_TREE_NO_MODULES: { status: 422, next: 'Pass the dir that holds the .ko files (the kernel build dir, or where the modules were installed), or build the modules first.' },
  BTFD_ERR_TREE_NOT_KBUILD: { status: 422, next: 'Pass the kernel build dir: the one you run make in, with the top-level Makefile and .config (the O= dir of an out-of-tree build).' },
  BTFD_ERR_TREE_FLAGS_FAILED: { status: 422, next: 'The tree\'s own flags script failed (its output is in the message): fix the tree (`make prepare`), or pass --pahole-flags to choose the flags yourself.' },
  BTFD_ERR_CONFIG_INVALID: { status: 400, next: 'Fix the option named in the message (see `btfd --help`).' },
  // Builds
  BTFD_ERR_BUILD_CANCELLED: { status: 499, next: 'The build was cancelled (Ctrl-C, or its client hung up): modules already written are complete; run the build again to finish the rest.' },
  // Command line
  BTFD_ERR_USAGE: { status: 400, next: 'Check the command line: `btfd --help`, or `btfd COMMAND --help` for one command\'s options.' },
  // Daemon and protocol
  BTFD_ERR_DAEMON_UNREACHABLE: { status: 503, next: 'Start it with `btfd start`, or read `btfd logs` for why it stopped.' },
  BTFD_ERR_DAEMON_START_FAILED: { status: 503, next: 'Read `btfd logs` (or run `btfd start --foreground`) to see why the daemon did not come up.' },
  BTFD_ERR_DAEMON_ALREADY_RUNNING: { status: 409, next: 'Another daemon owns this home or its cache dir: use it, or `btfd stop` it first (with the BTFD_HOME it runs with; in a container, stop the container).' },
  BTFD_ERR_DAEMON_VERSION_MISMATCH: { status: 409, next: 'The client restarts a daemon of another version or cache dir by itself; if this persists, run `btfd stop` and retry.' },
  BTFD_ERR_DAEMON_SHUTTING_DOWN: { status: 503, next: 'The daemon is stopping: retry; the client starts a new one.' },
  BTFD_ERR_HOME_INSECURE: { status: 500, next: 'Make the btfd directory owned by you with mode 0700 and not a symlink, or set BTFD_HOME to a private directory.' },
  BTFD_ERR_REQUEST_INVALID: { status: 400, next: 'The request does not match the API schema: see docs/api.md.' },
  BTFD_ERR_SHIM_UNHANDLED: { status: 422, next: 'Not a module BTF request: btfd-pahole passes such calls to the real pahole; nothing to do.' },
  BTFD_ERR_NOT_FOUND: { status: 404, next: 'No such route: see docs/api.md for the API under /v1.' },
  // Reliability, daemon side (issue 13): the file system, the cache database, the daemon's bounds
  BTFD_ERR_FS_NO_SPACE: { status: 507, next: 'The file system named in the message is full (or the user\'s quota is): free space there (`btfd cache gc --max-size SIZE` shrinks the cache), then retry.' },
  BTFD_ERR_FS_PERMISSION: { status: 403, next: 'Permission denied on the path named in the message: make it writable (or readable) by the daemon\'s user, then retry.' },
  BTFD_ERR_FS_READ_ONLY: { status: 503, next: 'The file system named in the message is mounted read-only: remount it read-write (or move BTFD_HOME / the tree to a writable one), then retry.' },
  BTFD_ERR_CACHE_DB_CORRUPT: { status: 500, next: 'The cache database was corrupt: btfd moved it aside (cache.db.corrupt-TIME, kept for a bug report) and started a fresh one; modules are restored or rebuilt as needed. If it recurs, check the disk.' },
  BTFD_ERR_REQUEST_TOO_LARGE: { status: 413, next: 'The request (its URL, headers or body) is over the daemon\'s limit named in the message: send fewer or shorter paths per request.' },
  BTFD_ERR_WATCH_TOO_LARGE: { status: 422, next: 'The tree has more directories than BTFD_WATCH_MAX_DIRS allows a watcher: watch a smaller dir (the kernel build dir, not /), raise BTFD_WATCH_MAX_DIRS (and fs.inotify.max_user_watches), or run `btfd build DIR` when needed instead.' },
  BTFD_ERR_WATCH_BASE_BROKEN: { status: 422, next: 'The watched tree\'s base (vmlinux) cannot be read as a base (the message says why; often a link still running or interrupted): finish or rerun the kernel build; the tree is rebuilt when the base changes again.' },
  BTFD_ERR_INTERNAL: { status: 500, next: 'An unexpected error: read `btfd logs` and report it with the log lines.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

/** An error with a catalog code. `detail` says what happened; the catalog says what to do. */
export class BtfdError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly next: string;

  constructor(code: ErrorCode, detail: string, options?: { cause?: unknown }) {
    super(detail, options);
    this.name = 'BtfdError';
    this.code = code;
    this.statusCode = ERROR_CATALOG[code].status;
    this.next = ERROR_CATALOG[code].next;
  }
}

/** True for any value carrying a catalog code (also errors rebuilt from JSON). */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CATALOG, value);
}

/**
 * The catalog code for a file system failure by its errno (or SQLite's own "disk full"), or null.
 * These have a next step no other code gives: free space, fix permissions, remount.
 */
export function fsErrorCode(err: unknown): ErrorCode | null {
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
    case 'SQLITE_FULL':
      return 'BTFD_ERR_FS_NO_SPACE';
    case 'EACCES':
    case 'EPERM':
      return 'BTFD_ERR_FS_PERMISSION';
    case 'EROFS':
    case 'SQLITE_READONLY':
      return 'BTFD_ERR_FS_READ_ONLY';
    default:
      return null;
  }
}

/** The code of an error, or BTFD_ERR_INTERNAL for anything unexpected. */
export function codeOf(err: unknown): ErrorCode {
  if (err instanceof BtfdError) return err.code;
  const code = (err as { code?: unknown } | null)?.code;
  return isErrorCode(code) ? code : (fsErrorCode(err) ?? 'BTFD_ERR_INTERNAL');
}

/**
 * Wrap any thrown value as a BtfdError, keeping catalog errors as they are; a file system errno
 * with a catalog code of its own (ENOSPC, EACCES, EROFS) gets that code instead of `fallback`.
 */
export function toBtfdError(err: unknown, fallback: ErrorCode = 'BTFD_ERR_INTERNAL'): BtfdError {
  if (err instanceof BtfdError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new BtfdError(fsErrorCode(err) ?? fallback, message, { cause: err });
}
