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
import { access, constants, realpath } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { BtfdError } from '../../shared/errors.js';

const execFileAsync = promisify(execFile);

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

/** Find an executable on PATH (or take a path with a slash as it is). */
export async function findExecutable(name: string, searchPath: string | undefined): Promise<string | null> {
  const candidates = name.includes('/')
    ? [path.resolve(name)]
    : (searchPath ?? '').split(':').filter(Boolean).map((dir) => path.join(dir, name));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here: try the next directory
    }
  }
  return null;
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

/**
 * Resolve pahole and compute its identity.
 * @param name a path, or a command name looked up in `searchPath` (PATH).
 */
export async function resolvePaholeTool(name: string, searchPath: string | undefined): Promise<PaholeTool> {
  const found = await findExecutable(name, searchPath);
  if (!found) {
    throw new BtfdError('BTFD_ERR_TOOL_PAHOLE_MISSING', `pahole not found (looked for "${name}")`);
  }
  const binary = await realpath(found);
  let version: string;
  try {
    const { stdout } = await execFileAsync(binary, ['--version'], { timeout: 10_000 });
    version = stdout.trim();
  } catch (err) {
    throw new BtfdError('BTFD_ERR_TOOL_PAHOLE_MISSING', `${binary} --version failed`, { cause: err });
  }
  const hash = createHash('sha256');
  hash.update(`pahole\0${version}\0${await sha256File(binary)}\0`);
  for (const lib of await encodingLibraries(binary)) {
    hash.update(`${path.basename(lib)}\0${await sha256File(lib)}\0`);
  }
  return { path: binary, version, versionNumber: parsePaholeVersion(version), identity: hash.digest('hex') };
}
