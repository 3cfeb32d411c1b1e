/**
 * pahole encoding flags: where they come from and their normal form.
 *
 * The flags are part of the cache key, so two spellings of the same request must normalise to one
 * string (`-j4` and `--jobs=8` both mean "threads", feature lists are sets), while anything that
 * is btfd's to set (`-J`, the base, the file) is refused rather than silently keyed.
 */
import { execFile, spawn } from 'node:child_process';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { BtfdError } from '../../shared/errors.js';
import type { PaholeTool } from './pahole-tool.js';

const execFileAsync = promisify(execFile);

/** Long options whose value may come as the next word. */
export const OPTIONS_WITH_VALUE: ReadonlySet<string> = new Set(['--lang_exclude', '--lang', '--btf_features', '--btf_features_strict']);
/** Options btfd sets itself; accepting them in flags would key the wrong thing. */
const OPTIONS_OWNED_BY_BTFD = ['-J', '--btf_encode', '--btf_base', '--btf_encode_detached'];
/** Options whose values are sets: order and repetition carry no meaning. */
const LIST_OPTIONS = new Set(['--btf_features', '--btf_features_strict', '--lang_exclude']);

/** Where the flags of a build came from, for `explain` and logs. */
export type FlagsSource = 'option' | 'scripts/pahole-flags.sh' | 'scripts/Makefile.btf' | 'pahole-version-table';

/** How long a tree's flag script or makefile may take before the version table stands in. */
const TREE_FLAGS_TIMEOUT_MS = 10_000;

export interface ResolvedFlags {
  /** Normalised flags: what is keyed and what pahole is given. */
  readonly flags: string;
  readonly source: FlagsSource;
}

function isOwnedByBtfd(token: string): boolean {
  return OPTIONS_OWNED_BY_BTFD.some((option) => token === option || token.startsWith(`${option}=`));
}

/**
 * Normalise pahole encoding flags: one token per option, `--opt value` joined as `--opt=value`,
 * thread counts dropped, list values sorted and merged, tokens sorted.
 */
export function normalizePaholeFlags(text: string): string {
  const words = text.split(/\s+/).filter(Boolean);
  const lists = new Map<string, Set<string>>();
  const tokens = new Set<string>();
  for (let i = 0; i < words.length; i++) {
    let word = words[i]!;
    if (isOwnedByBtfd(word)) {
      throw new BtfdError('BTFD_ERR_TOOL_FLAGS_INVALID', `pahole flag "${word}" is set by btfd itself`);
    }
    if (!word.startsWith('-')) {
      throw new BtfdError('BTFD_ERR_TOOL_FLAGS_INVALID', `"${word}" in pahole flags is not an option`);
    }
    if (OPTIONS_WITH_VALUE.has(word)) {
      const value = words[i + 1];
      if (value === undefined || value.startsWith('-')) {
        throw new BtfdError('BTFD_ERR_TOOL_FLAGS_INVALID', `pahole flag "${word}" needs a value`);
      }
      word = `${word}=${value}`;
      i++;
    }
    if (/^(-j\d*|--jobs(=\d+)?)$/.test(word)) {
      // The thread count changes speed, not what is encoded.
      tokens.add('-j');
      continue;
    }
    const eq = word.indexOf('=');
    const name = eq < 0 ? word : word.slice(0, eq);
    if (eq >= 0 && LIST_OPTIONS.has(name)) {
      const set = lists.get(name) ?? new Set<string>();
      let value = word.slice(eq + 1);
      // pahole: a leading '+' means "the default features, and these" (parse_btf_features).
      if (value.startsWith('+')) {
        set.add('default');
        value = value.slice(1);
      }
      for (const item of value.split(',').filter(Boolean)) set.add(item);
      lists.set(name, set);
      continue;
    }
    tokens.add(word);
  }
  for (const [name, items] of lists) tokens.add(`${name}=${[...items].sort().join(',')}`);
  return [...tokens].sort().join(' ');
}

/** pahole's flags as btfd runs it: without -j, whose output pahole < 1.27 does not reproduce. */
export function paholeArgs(flags: string): string[] {
  return flags.split(' ').filter((flag) => flag !== '' && flag !== '-j');
}

/**
 * The flags kbuild's scripts/pahole-flags.sh (5.16–6.5) or scripts/Makefile.btf (6.6+) would
 * choose for a pahole of this version, for when there is no kernel tree to ask.
 */
export function flagsForPaholeVersion(version: number): string {
  const flags: string[] = [];
  if (version >= 118 && version <= 121) flags.push('--skip_encoding_btf_vars');
  if (version >= 126) {
    flags.push('-j', '--lang_exclude=rust');
    flags.push('--btf_features=encode_force,var,float,enum64,decl_tag,type_tag,optimized_func,consistent_func,decl_tag_kfuncs');
    return flags.join(' ');
  }
  if (version >= 121) flags.push('--btf_gen_floats');
  if (version >= 122) flags.push('-j');
  if (version >= 124) flags.push('--lang_exclude=rust');
  if (version >= 125) flags.push('--skip_encoding_btf_inconsistent_proto', '--btf_gen_optimized');
  return flags.join(' ');
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

/** Ask scripts/pahole-flags.sh, as kbuild does, with PAHOLE pointing at the resolved binary. */
async function flagsFromPaholeFlagsScript(treeDir: string, tool: PaholeTool, searchPath: string): Promise<string> {
  const { stdout } = await execFileAsync('sh', [path.join(treeDir, 'scripts/pahole-flags.sh')], {
    cwd: treeDir,
    env: { PATH: searchPath, PAHOLE: tool.path },
    timeout: 10_000,
  });
  return stdout.trim();
}

/** Run a command with `input` on its stdin; resolves with stdout, rejects on failure or timeout. */
function runWithInput(command: string, args: readonly string[], input: string, options: { env: NodeJS.ProcessEnv; timeoutMs: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new Error(signal ? `${command} was killed (${signal}; timeout ${options.timeoutMs} ms)` : `${command} exited with ${code}: ${stderr.trim()}`));
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

/**
 * Evaluate scripts/Makefile.btf with the tree's own config and Kbuild.include, the way kbuild
 * does, and print PAHOLE_FLAGS plus MODULE_PAHOLE_FLAGS (the module step passes both). The probe
 * makefile goes to make on its stdin (`-f -`).
 */
async function flagsFromMakefileBtf(treeDir: string, tool: PaholeTool, searchPath: string): Promise<string> {
  const probe = [
    'include scripts/Kbuild.include',
    '-include include/config/auto.conf',
    'include scripts/Makefile.btf',
    'btfd-print-flags: ; @echo $(PAHOLE_FLAGS) $(MODULE_PAHOLE_FLAGS)',
    '',
  ].join('\n');
  const args = ['-s', '--no-print-directory', '-C', treeDir, '-f', '-', 'btfd-print-flags', `PAHOLE=${tool.path}`, `CONFIG_PAHOLE_VERSION=${tool.versionNumber}`, 'srctree=.'];
  return (await runWithInput('make', args, probe, { env: { PATH: searchPath }, timeoutMs: TREE_FLAGS_TIMEOUT_MS })).trim();
}

/**
 * Resolve the flags for a tree: an explicit option wins; a kernel build dir is asked through its
 * own scripts; a dir without them gets what those scripts would choose (the version table).
 * @throws BtfdError BTFD_ERR_TREE_FLAGS_FAILED when the tree's script fails: its flags are not
 *   guessed, BTFD_ERR_TOOL_FLAGS_INVALID for explicit flags btfd cannot take
 */
export async function resolvePaholeFlags(options: {
  treeDir: string;
  explicit: string | undefined;
  tool: PaholeTool;
  /** PATH for the tree's scripts (they run sh, make and pahole-version.sh). */
  searchPath: string;
}): Promise<ResolvedFlags> {
  const { treeDir, explicit, tool, searchPath } = options;
  if (explicit !== undefined) return { flags: normalizePaholeFlags(explicit), source: 'option' };
  const scripts: { source: FlagsSource; file: string; run: () => Promise<string> }[] = [
    { source: 'scripts/pahole-flags.sh', file: 'scripts/pahole-flags.sh', run: () => flagsFromPaholeFlagsScript(treeDir, tool, searchPath) },
    { source: 'scripts/Makefile.btf', file: 'scripts/Makefile.btf', run: () => flagsFromMakefileBtf(treeDir, tool, searchPath) },
  ];
  for (const script of scripts) {
    if (!(await exists(path.join(treeDir, script.file)))) continue;
    let output: string;
    try {
      output = await script.run();
    } catch (err) {
      throw new BtfdError('BTFD_ERR_TREE_FLAGS_FAILED', `${path.join(treeDir, script.file)} failed: ${(err as Error).message.trim()}`, { cause: err });
    }
    try {
      return { flags: normalizePaholeFlags(output), source: script.source };
    } catch (err) {
      throw new BtfdError('BTFD_ERR_TREE_FLAGS_FAILED', `${path.join(treeDir, script.file)} printed ${JSON.stringify(output.trim())}: ${(err as Error).message}`, { cause: err });
    }
  }
  return { flags: normalizePaholeFlags(flagsForPaholeVersion(tool.versionNumber)), source: 'pahole-version-table' };
}
