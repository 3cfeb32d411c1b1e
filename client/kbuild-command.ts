/**
 * `btfd kbuild [DIR]`: check a kernel build tree for the drop-in and print the exact make line.
 * The checks are the ones whose failure would make the drop-in useless or wrong: a vmlinux with
 * `.BTF` (the base), CONFIG_DEBUG_INFO_BTF_MODULES=y (else kbuild never calls pahole for modules),
 * and a pahole new enough for split BTF (1.16+; 1.21+ is what kernels ≥ 5.15 want).
 * It runs the engine's own readers in process (loaded lazily), like `--no-daemon`: checking a
 * tree must work before any daemon runs.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BtfdError, toBtfdError } from '../shared/errors.js';
import type { Config } from '../shared/config.js';
import type { CommandIo } from './daemon-commands.js';

/** pahole's first version with `--btf_base` (split BTF). */
const MIN_PAHOLE_VERSION = 116;

/** The shim, next to this file's source tree: dist/client/ → client/bin/btfd-pahole. */
export function shimPath(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../client/bin/btfd-pahole');
}

interface Check {
  readonly ok: boolean;
  readonly line: string;
}

/** pahole's first version with the reproducible_build feature (deterministic with -j). */
const REPRODUCIBLE_PAHOLE_VERSION = 127;

async function checkConfig(dir: string): Promise<Check> {
  const text = await readFile(path.join(dir, '.config'), 'utf8').catch(() => null);
  if (text === null) return { ok: false, line: `no ${dir}/.config: is this a configured kernel build dir?` };
  const btfModules = /^CONFIG_DEBUG_INFO_BTF_MODULES=y$/m.test(text);
  return btfModules
    ? { ok: true, line: 'CONFIG_DEBUG_INFO_BTF_MODULES=y' }
    : { ok: false, line: 'CONFIG_DEBUG_INFO_BTF_MODULES is not set: kbuild will not generate module BTF (enable it, with DEBUG_INFO_BTF)' };
}

async function checkBase(dir: string): Promise<Check> {
  const { digestBase } = await import('../daemon/engine/base-btf.js');
  try {
    const base = await digestBase(path.join(dir, 'vmlinux'));
    return { ok: true, line: `vmlinux has .BTF (${base.bytes} bytes, sha256 ${base.digest.slice(0, 12)})` };
  } catch (err) {
    const error = toBtfdError(err);
    // No vmlinux yet is normal before the first build: kbuild makes it before any module's BTF.
    if (error.code === 'BTFD_ERR_BASE_MISSING') return { ok: true, line: 'no vmlinux yet (kbuild links it before module BTF)' };
    return { ok: false, line: `vmlinux: ${error.code}: ${error.message}` };
  }
}

async function checkPahole(config: Config, searchPath: string | undefined): Promise<Check & { version: number }> {
  const { resolvePaholeTool } = await import('../daemon/engine/pahole-tool.js');
  try {
    const tool = await resolvePaholeTool(config.pahole, searchPath);
    return tool.versionNumber >= MIN_PAHOLE_VERSION
      ? { ok: true, line: `pahole ${tool.version} at ${tool.path}`, version: tool.versionNumber }
      : { ok: false, line: `pahole ${tool.version} is too old for split BTF (need 1.16 or newer)`, version: tool.versionNumber };
  } catch (err) {
    const error = toBtfdError(err);
    return { ok: false, line: `${error.code}: ${error.message}; ${error.next}`, version: 0 };
  }
}

/** Print the checks and the make line; exit 0 when every check passed, 1 otherwise. */
export async function kbuildCommand(config: Config, dir: string, searchPath: string | undefined, io: CommandIo): Promise<number> {
  const tree = path.resolve(dir);
  if (!(await readFile(path.join(tree, 'Makefile'), 'utf8').then(() => true, () => false))) {
    throw new BtfdError('BTFD_ERR_TREE_NOT_FOUND', `${tree} has no Makefile: pass the kernel build dir`);
  }
  const pahole = await checkPahole(config, searchPath);
  const checks = [...(await Promise.all([checkConfig(tree), checkBase(tree)])), pahole];
  for (const check of checks) io.stdout.write(`${check.ok ? 'ok  ' : 'FAIL'} ${check.line}\n`);
  const home = config.home ? `BTFD_HOME=${config.home} ` : '';
  // Older pahole's -j makes vmlinux's BTF differ on every full build, and every module key with it.
  const stable = pahole.ok && pahole.version < REPRODUCIBLE_PAHOLE_VERSION;
  io.stdout.write(`\nStart the daemon once (the drop-in runs the real pahole whenever it is not running):\n  ${home}btfd start\n`);
  if (stable) {
    io.stdout.write('pahole before 1.27 encodes vmlinux differently on every build with -j; BTFD_STABLE_BASE=1 drops -j\n');
    io.stdout.write("from that one call so that `make clean && make` restores modules from the cache.\n");
  }
  io.stdout.write(`Then build as usual, with:\n  ${home}${stable ? 'BTFD_STABLE_BASE=1 ' : ''}make -C ${tree} PAHOLE=${shimPath()}\n`);
  return checks.every((check) => check.ok) ? 0 : 1;
}
