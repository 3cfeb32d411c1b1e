/**
 * pahole's identity: which binary runs and what it is, so that a new pahole (or a new libbpf or
 * libdw under it) never reuses artifacts made by the old one.
 *
 * The identity is the sha256 of the binary, its `--version`, and the sha256 of the shared libraries
 * that do the encoding work (libdwarves, libbpf, libdw, libelf) as the dynamic loader resolves them.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { BtfdError } from '../../shared/errors.js';
import { findExecutable } from '../../shared/executable.js';
import { formatCommand } from './pahole-argv.js';

export { findExecutable } from '../../shared/executable.js';

const execFileAsync = promisify(execFile);

/** pahole's first version with `--btf_base` (split BTF), the least btfd can use. */
export const MIN_PAHOLE_VERSION = 116;
/** How long `pahole --version` may take. */
const VERSION_TIMEOUT_MS = 10_000;

/** Libraries whose code decides the BTF pahole writes. */
const ENCODING_LIBRARY_PATTERN = /(dwarves|libbpf|libdw|libelf)[^/]*\.so/;

export interface PaholeTool {
  /** Absolute, symlink-resolved path of the binary. */
  readonly path: string;
  /** `pahole --version`, e.g. "v1.24". */
  readonly version: string;
  /** Numeric version for flag tables: 1.24 → 124. */
  readonly versionNumber: number;
  /** sha256 over the binary, its version and its encoding libraries. */
  readonly identity: string;
}

/** sha256 of a file, streamed. */
export async function sha256File(filePath: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(filePath)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Parse "v1.24" / "1.25.1" into 124 / 125, as the kernel's scripts/pahole-version.sh does. */
export function parsePaholeVersion(text: string): number {
  const match = /v?(\d+)\.(\d+)/.exec(text);
  if (!match) return 0;
  return Number(match[1]) * 100 + Number(match[2]);
}

async function encodingLibraries(binary: string): Promise<string[]> {
  try {
    const { stdout } = await execFileAsync('ldd', [binary], { timeout: 10_000 });
    return stdout
      .split('\n')
      .map((line) => /=>\s*(\/\S+)/.exec(line)?.[1])
      .filter((lib): lib is string => lib !== undefined && ENCODING_LIBRARY_PATTERN.test(lib))
      .sort();
  } catch {
    // A static pahole (or no ldd): the binary's own hash covers it.
    return [];
  }
}

/** `pahole --version` of a found binary, checked to be pahole's answer. */
async function paholeVersion(binary: string): Promise<string> {
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync(binary, ['--version'], { timeout: VERSION_TIMEOUT_MS }));
  } catch (err) {
    throw new BtfdError('BTFD_ERR_TOOL_PAHOLE_INVALID', `${binary} is not pahole: \`${binary} --version\` failed (${(err as Error).message.split('\n')[0]})`, { cause: err });
  }
  const version = stdout.trim();
  // pahole answers "v1.24" (dwarves' own format); anything else is another program.
  if (!/^v\d+\.\d+/.test(version)) {
    throw new BtfdError('BTFD_ERR_TOOL_PAHOLE_INVALID', `${binary} is not pahole: \`${binary} --version\` printed ${JSON.stringify(version.split('\n')[0]?.slice(0, 80) ?? '')}, not a version such as v1.24`);
  }
  if (parsePaholeVersion(version) < MIN_PAHOLE_VERSION) {
    throw new BtfdError('BTFD_ERR_TOOL_PAHOLE_INVALID', `${binary} is pahole ${version}, too old for split BTF (--btf_base needs v1.16 or newer)`);
  }
  return version;
}

/**
 * Resolve pahole and compute its identity.
 * @param name a path, or a command name looked up in `searchPath` (PATH).
 * @throws BtfdError BTFD_ERR_TOOL_PAHOLE_MISSING when there is no such program,
 *   BTFD_ERR_TOOL_PAHOLE_INVALID when the program is not a usable pahole
 */
export async function resolvePaholeTool(name: string, searchPath: string | undefined): Promise<PaholeTool> {
  const found = await findExecutable(name, searchPath);
  if (!found) {
    const exists = name.includes('/') && (await stat(path.resolve(name)).catch(() => null)) !== null;
    if (exists) throw new BtfdError('BTFD_ERR_TOOL_PAHOLE_INVALID', `${path.resolve(name)} is not an executable program, so not pahole`);
    throw new BtfdError('BTFD_ERR_TOOL_PAHOLE_MISSING', `pahole not found (looked for "${name}")`);
  }
  const binary = await realpath(found);
  const version = await paholeVersion(binary);
  const hash = createHash('sha256');
  hash.update(`pahole\0${version}\0${await sha256File(binary)}\0`);
  for (const lib of await encodingLibraries(binary)) {
    hash.update(`${path.basename(lib)}\0${await sha256File(lib)}\0`);
  }
  return { path: binary, version, versionNumber: parsePaholeVersion(version), identity: hash.digest('hex') };
}

/**
 * The daemon's default pahole, checked when it starts: a program that is not pahole is refused, and
 * so is a missing one the user named (`--pahole`, BTFD_PAHOLE); only the implicit `pahole` may be
 * missing (requests may name their own, and status says it is missing).
 * @throws BtfdError BTFD_ERR_TOOL_PAHOLE_INVALID, BTFD_ERR_TOOL_PAHOLE_MISSING
 */
export async function checkDefaultPahole(name: string, searchPath: string | undefined, named: boolean): Promise<void> {
  try {
    await resolvePaholeTool(name, searchPath);
  } catch (err) {
    if (!named && err instanceof BtfdError && err.code === 'BTFD_ERR_TOOL_PAHOLE_MISSING') return;
    throw err;
  }
}

/** The first lines of a program's stderr, enough to quote it in one error message. */
function firstLines(text: string, count = 3): string {
  return text.trim().split('\n').slice(0, count).join(' / ');
}

/**
 * Probe pahole once with a build's flags, before any module runs: `pahole ARGS --version` makes
 * pahole parse every option and stop, so an option it does not know fails here, once, instead of
 * once per module with pahole's usage text.
 * @param args the flags as btfd passes them to pahole (see `paholeArgs`)
 * @throws BtfdError BTFD_ERR_TOOL_FLAGS_REJECTED quoting pahole and the command that reproduces it
 */
export async function checkPaholeAccepts(tool: PaholeTool, args: readonly string[]): Promise<void> {
  const argv = [tool.path, ...args, '--version'];
  try {
    // BTFD_SHIM_DISABLE: should this "pahole" be btfd-pahole, it must not call back into us.
    await execFileAsync(tool.path, argv.slice(1), { timeout: VERSION_TIMEOUT_MS, env: { ...process.env, BTFD_SHIM_DISABLE: '1' } });
  } catch (err) {
    const failure = err as { code?: unknown; signal?: unknown; stderr?: unknown };
    const answer = typeof failure.stderr === 'string' && failure.stderr.trim() !== '' ? firstLines(failure.stderr) : (err as Error).message;
    const status = typeof failure.code === 'number' ? `exit ${failure.code}` : `signal ${String(failure.signal)}`;
    throw new BtfdError('BTFD_ERR_TOOL_FLAGS_REJECTED',
      `pahole ${tool.version} refused the flags "${args.join(' ')}": ${answer} (${status}); reproduce with: ${formatCommand(argv)}`, { cause: err });
  }
}
