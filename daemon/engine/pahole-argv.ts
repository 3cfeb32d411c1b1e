/**
 * Reading a pahole command line the way kbuild writes it, for the btfd-pahole drop-in:
 *   pahole -J [flags] --btf_base BASE FILE.ko                           (5.11 – 6.19, in place)
 *   pahole -J [flags] --btf_base BASE --btf_encode_detached=OUT FILE.ko (7.0 gen-btf.sh)
 * Anything else (`--version`, vmlinux's own BTF, other uses) is not a module BTF request, and the
 * shim passes it to the real pahole untouched.
 */
import path from 'node:path';
import { OPTIONS_WITH_VALUE } from './pahole-flags.js';

/** A module BTF request, with paths made absolute against the caller's cwd. */
export interface PaholeModuleRequest {
  readonly module: string;
  readonly base: string;
  /** The encoding flags as kbuild passed them (normalised later, by the engine). */
  readonly flags: string;
  /** Where to write raw BTF instead of into the module (`--btf_encode_detached`). */
  readonly detachedOut: string | null;
}

/** Options that name btfd's inputs and outputs rather than encoding choices. */
const BASE_OPTION = '--btf_base';
const DETACHED_OPTION = '--btf_encode_detached';

/** Parse pahole's arguments (without argv[0]); null when this is not a module BTF request. */
export function parsePaholeModuleArgv(args: readonly string[], cwd: string): PaholeModuleRequest | null {
  let encode = false;
  let base: string | null = null;
  let detached: string | null = null;
  const flags: string[] = [];
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const valueOf = (option: string): string | undefined => (arg === option ? args[++i] : arg.slice(option.length + 1));
    if (arg === '-J' || arg === '--btf_encode') encode = true;
    else if (arg === BASE_OPTION || arg.startsWith(`${BASE_OPTION}=`)) base = valueOf(BASE_OPTION) ?? null;
    else if (arg === DETACHED_OPTION || arg.startsWith(`${DETACHED_OPTION}=`)) detached = valueOf(DETACHED_OPTION) ?? null;
    else if (OPTIONS_WITH_VALUE.has(arg) && i + 1 < args.length) flags.push(arg, args[++i]!);
    else if (arg.startsWith('-') && arg !== '-') flags.push(arg);
    else positionals.push(arg);
  }
  const file = positionals[0];
  if (!encode || !base || positionals.length !== 1 || !file || !file.endsWith('.ko')) return null;
  return {
    module: path.resolve(cwd, file),
    base: path.resolve(cwd, base),
    flags: flags.join(' '),
    detachedOut: detached ? path.resolve(cwd, detached) : null,
  };
}

/** Characters a POSIX shell takes literally outside quotes. */
const SHELL_SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** A command line as a shell would need it typed, for messages that say how to reproduce a run. */
export function formatCommand(argv: readonly string[]): string {
  return argv.map((arg) => (SHELL_SAFE.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`)).join(' ');
}
