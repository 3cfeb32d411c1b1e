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
export const OPTIONS_WITH_VALUE: ReadonlySet<string> = new Set(['--lang_exclude', '--lang', '--btf_features', '--btf_features_strict', '--kabi_prefix']);
/** Options btfd sets itself; accepting them in flags would key the wrong thing. */
const OPTIONS_OWNED_BY_BTFD: ReadonlySet<string> = new Set(['--btf_encode', '--btf_base', '--btf_encode_detached']);
/**
 * The encoding options btfd passes on: the allow-list. Every other option pahole knows prints
 * or filters rather than encodes (`--class_name` would even swallow btfd's `--btf_base` as its
 * value and make pahole emit standalone BTF), so it is refused.
 */
const ENCODING_OPTIONS: ReadonlySet<string> = new Set([
  '--jobs', '--btf_encode_force', '--btf_gen_floats', '--btf_gen_optimized', '--btf_gen_all', '--btf_attributes',
  '--skip_encoding_btf_vars', '--skip_encoding_btf_decl_tag', '--skip_encoding_btf_enum64', '--skip_encoding_btf_type_tag',
  '--skip_encoding_btf_inconsistent_proto', '--reproducible_build', '--skip_emitting_atomic_typedefs', ...OPTIONS_WITH_VALUE,
]);
/**
 * Every long option pahole 1.30 knows (`pahole --help`), and the older ones kbuild has passed.
 * pahole parses with getopt_long, which takes any unique prefix of one of these (`--btf_bas=`),
 * so a word is matched the way getopt_long matches it before it is judged.
 */
const PAHOLE_LONG_OPTIONS: readonly string[] = [
  ...ENCODING_OPTIONS, ...OPTIONS_OWNED_BY_BTFD,
  '--anon_include', '--nested_anon_include', '--bit_holes', '--classes_as_structs', '--compile', '--contains_enumerator', '--count',
  '--cacheline_size', '--class_name', '--recursive', '--decl_exclude', '--expand_types', '--first_obj_only', '--fixup_silly_bitfields',
  '--flat_arrays', '--find_pointers_to', '--format_path', '--hashbits', '--header_type', '--hex', '--holes', '--contains',
  '--show_decl_info', '--show_first_biggest_size_base_type_member', '--nr_methods', '--show_only_data_members', '--numeric_version',
  '--nr_members', '--class_name_len', '--packed', '--padding_ge', '--prettify', '--ptr_table_stats', '--expand_pointers', '--packable',
  '--quiet', '--range', '--running_kernel_vmlinux', '--rel_offset', '--reorganize', '--seek_bytes', '--show_private_classes',
  '--size_bytes', '--skip', '--skip_missing', '--sort', '--structs', '--supported_btf_features', '--suppress_aligned_attribute',
  '--suppress_force_paddings', '--suppress_packed', '--sizes', '--show_reorg_steps', '--separator', '--nr_definitions', '--unions',
  '--defined_in', '--verbose', '--with_embedded_flexible_array', '--with_flexible_array', '--word_size', '--exclude', '--cu_exclude',
  '--prefix_filter', '--hole_size_ge', '--ctf_encode', '--help', '--usage', '--version', '--encode_btf_global_vars',
];
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

/**
 * The long option a word names as getopt_long reads it: an exact name, else the one option it is
 * a prefix of; null for a name pahole does not know (pahole itself then refuses it).
 * @throws BtfdError BTFD_ERR_TOOL_FLAGS_INVALID for a prefix of several options
 */
function longOptionOf(name: string): string | null {
  if (PAHOLE_LONG_OPTIONS.includes(name)) return name;
  const matches = [...new Set(PAHOLE_LONG_OPTIONS.filter((option) => option.startsWith(name)))];
  if (matches.length > 1) throw new BtfdError('BTFD_ERR_TOOL_FLAGS_INVALID', `pahole flag "${name}" is ambiguous (it could be ${matches.join(', ')}): spell it out`);
  return matches[0] ?? null;
}

/**
 * One word of the flags in its canonical spelling (an abbreviation spelled out), or a refusal:
 * btfd's own options, short options other than -j (pahole's other short options print or
 * filter, and many take the next word as their value), and known options that do not encode.
 */
function canonicalWord(word: string): string {
  if (!word.startsWith('-') || word === '-' || word === '--') throw new BtfdError('BTFD_ERR_TOOL_FLAGS_INVALID', `"${word}" in pahole flags is not an option`);
  if (!word.startsWith('--')) {
    if (/^-j\d*$/.test(word)) return word;
    if (word.startsWith('-J')) throw new BtfdError('BTFD_ERR_TOOL_FLAGS_INVALID', `pahole flag "${word}" is set by btfd itself`);
    throw new BtfdError('BTFD_ERR_TOOL_FLAGS_INVALID', `pahole flag "${word}" is not an encoding flag (of pahole's short options btfd passes only -j)`);
  }
  const eq = word.indexOf('=');
  const name = eq < 0 ? word : word.slice(0, eq);
  const option = longOptionOf(name);
  if (option === null) return word;
  if (OPTIONS_OWNED_BY_BTFD.has(option)) throw new BtfdError('BTFD_ERR_TOOL_FLAGS_INVALID', `pahole flag "${word}" is set by btfd itself${option === name ? '' : ` (it abbreviates ${option})`}`);
  if (!ENCODING_OPTIONS.has(option)) throw new BtfdError('BTFD_ERR_TOOL_FLAGS_INVALID', `pahole flag "${word}" is not an encoding flag${option === name ? '' : ` (it abbreviates ${option})`}`);
  return eq < 0 ? option : `${option}${word.slice(eq)}`;
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
    let word = canonicalWord(words[i]!);
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
