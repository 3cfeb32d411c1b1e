/**
 * `btfd kbuild`'s checks of a kernel build tree, whose failure would make the drop-in useless or
 * wrong: a vmlinux with `.BTF` (the base), CONFIG_DEBUG_INFO_BTF_MODULES=y (else kbuild never calls
 * pahole for modules), and a pahole new enough for split BTF (1.16+).
 */
import path from 'node:path';
import type { TreeCheck, TreeCheckLine } from '../../shared/protocol/kbuild.js';
import { BtfdError, toBtfdError } from '../../shared/errors.js';
import { digestBase } from '../engine/base-btf.js';
import { resolvePaholeTool } from '../engine/pahole-tool.js';
import { readRegularText } from '../fs/open-regular.js';
import { resolveTreeDir } from './module-tree.js';

async function checkConfig(dir: string): Promise<TreeCheckLine> {
  // Read without blocking: a FIFO named .config must not hang the daemon.
  const text = await readRegularText(path.join(dir, '.config'));
  if (text === null) return { ok: false, line: `no ${dir}/.config: is this a configured kernel build dir?` };
  return /^CONFIG_DEBUG_INFO_BTF_MODULES=y$/m.test(text)
    ? { ok: true, line: 'CONFIG_DEBUG_INFO_BTF_MODULES=y' }
    : { ok: false, line: 'CONFIG_DEBUG_INFO_BTF_MODULES is not set: kbuild will not generate module BTF (enable it, with DEBUG_INFO_BTF)' };
}

async function checkBase(dir: string): Promise<TreeCheckLine> {
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

async function checkPahole(pahole: string, searchPath: string): Promise<TreeCheckLine & { version: number }> {
  try {
    // resolvePaholeTool refuses a program that is not pahole, or one too old for split BTF.
    const tool = await resolvePaholeTool(pahole, searchPath);
    return { ok: true, line: `pahole ${tool.version} at ${tool.path}`, version: tool.versionNumber };
  } catch (err) {
    const error = toBtfdError(err);
    return { ok: false, line: `${error.code}: ${error.message}; ${error.next}`, version: 0 };
  }
}

/**
 * Check a kernel build dir for the drop-in.
 * @throws BtfdError BTFD_ERR_TREE_NOT_FOUND when there is no such dir, BTFD_ERR_TREE_NOT_KBUILD when
 *   it is not a kernel build dir
 */
export async function checkKbuildTree(dir: string, pahole: string, searchPath: string): Promise<TreeCheck> {
  await resolveTreeDir(dir);
  if ((await readRegularText(path.join(dir, 'Makefile'))) === null) {
    throw new BtfdError('BTFD_ERR_TREE_NOT_KBUILD', `${dir} has no Makefile, so it is not a kernel build dir`);
  }
  const [config, base, tool] = await Promise.all([checkConfig(dir), checkBase(dir), checkPahole(pahole, searchPath)]);
  return { checks: [tool, config, base].map(({ ok, line }) => ({ ok, line })), paholeVersion: tool.version };
}
