/**
 * piscina worker: the heavy per-module work, off the main thread so the daemon stays responsive.
 * `digest` hashes a module; `regenerate` runs pahole and returns the sections it encoded. Neither
 * writes the module: installing is the main thread's, after the cache write.
 * The task and result types live in module-worker-types.ts, imported as types on both sides.
 */
import { spawn } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { BtfdError, toBtfdError } from '../../shared/errors.js';
import { digestModule, readElfLayout, readSections } from '../engine/elf.js';
import type { DigestResult, DigestTask, RegenerateResult, RegenerateTask, WorkerOutcome } from './module-worker-types.js';

/** pahole's stderr kept for error messages; enough for its diagnostics, bounded for huge dumps. */
const MAX_STDERR_BYTES = 16 * 1024;

/** Run work and hand back its value or its coded error as data. */
async function outcome<T>(work: () => Promise<T>): Promise<WorkerOutcome<T>> {
  try {
    return { ok: true, value: await work() };
  } catch (err) {
    const error = toBtfdError(err);
    return { ok: false, code: error.code, message: error.message };
  }
}

/** Hash a module's content (without output sections) and return its current output sections. */
export function digest(task: DigestTask): Promise<WorkerOutcome<DigestResult>> {
  return outcome(async () => {
    const result = await digestModule(task.path, task.outputNames);
    return { digest: result.digest, outputs: Object.fromEntries(result.outputs) };
  });
}

interface PaholeExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

function runPahole(paholePath: string, args: readonly string[], objcopy: string): Promise<PaholeExit> {
  return new Promise((resolve, reject) => {
    // pahole adds .BTF through $LLVM_OBJCOPY; kbuild points it at GNU objcopy, and so do we.
    const child = spawn(paholePath, args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      // BTFD_SHIM_DISABLE: should "pahole" resolve to btfd-pahole, it must not call back into us.
      env: { ...process.env, LLVM_OBJCOPY: objcopy, BTFD_SHIM_DISABLE: '1' },
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      if (stderr.length < MAX_STDERR_BYTES) stderr += chunk.slice(0, MAX_STDERR_BYTES - stderr.length);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr: stderr.trim() }));
  });
}

/** Run pahole for the module and return the output sections it produced; the module is never written. */
export function regenerate(task: RegenerateTask): Promise<WorkerOutcome<RegenerateResult>> {
  return outcome(() => regenerateModule(task));
}

/** Flags that make pahole write sections besides `.BTF`, which only in-place encoding captures. */
function needsInPlaceEncoding(flags: readonly string[]): boolean {
  return flags.some((flag) => flag.includes('distilled_base'));
}

/**
 * Encode the module's BTF. Usually with `--btf_encode_detached`: pahole reads the module and
 * writes raw BTF to a scratch file (byte-identical to what it would add in place), so no copy of a
 * module of many MB is made and no objcopy runs. With a distilled base, which adds `.BTF.base`,
 * pahole runs in place on a private copy instead.
 */
async function encodeBtf(task: RegenerateTask, workDir: string): Promise<{ sections: Map<string, Buffer>; exit: PaholeExit; ms: number }> {
  const inPlace = needsInPlaceEncoding(task.flags);
  const target = inPlace ? path.join(workDir, path.basename(task.modulePath)) : task.modulePath;
  const detached = path.join(workDir, 'module.btf');
  if (inPlace) await copyFile(task.modulePath, target);
  const args = ['-J', ...task.flags, '--btf_base', task.basePath, ...(inPlace ? [] : [`--btf_encode_detached=${detached}`]), target];
  const started = performance.now();
  const exit = await runPahole(task.paholePath, args, task.objcopy).catch((err: unknown) => {
    throw new BtfdError('BTFD_ERR_TOOL_PAHOLE_MISSING', `could not run ${task.paholePath}`, { cause: err });
  });
  const ms = performance.now() - started;
  if (exit.signal !== null) {
    throw new BtfdError('BTFD_ERR_TOOL_PAHOLE_CRASHED', `pahole was killed by ${exit.signal} on ${task.modulePath}: ${exit.stderr}`);
  }
  if (exit.code !== 0) {
    throw new BtfdError('BTFD_ERR_TOOL_PAHOLE_FAILED', `pahole exited with ${exit.code} on ${task.modulePath}: ${exit.stderr}`);
  }
  const sections = inPlace
    ? await readSections(target, task.outputNames)
    : new Map(await readFile(detached).then((btf) => [['.BTF', btf] as const], () => []));
  return { sections, exit, ms };
}

async function regenerateModule(task: RegenerateTask): Promise<RegenerateResult> {
  const before = await stat(task.modulePath, { bigint: true });
  const layout = await readElfLayout(task.modulePath);
  if (!layout.sections.some((section) => section.name === '.debug_info')) {
    throw new BtfdError('BTFD_ERR_MODULE_NO_DWARF', `${task.modulePath} has no .debug_info section`);
  }
  const workDir = await mkdtemp(path.join(task.tmpRoot, 'regen-'));
  try {
    const { sections, exit, ms } = await encodeBtf(task, workDir);
    if (!sections.has('.BTF') || sections.get('.BTF')!.length === 0) {
      throw new BtfdError('BTFD_ERR_MODULE_NO_DWARF', `pahole wrote no .BTF for ${task.modulePath}${exit.stderr ? `: ${exit.stderr}` : ''}`);
    }
    // pahole read the module while it ran: if someone rewrote it meanwhile, the BTF may describe neither version.
    const after = await stat(task.modulePath, { bigint: true });
    if (after.mtimeNs !== before.mtimeNs || after.ino !== before.ino || after.size !== before.size) {
      throw new BtfdError('BTFD_ERR_MODULE_CHANGED', `${task.modulePath} changed while pahole read it`);
    }
    return { sections: Object.fromEntries(sections), ms, stderr: exit.stderr };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}
