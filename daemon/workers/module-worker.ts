/**
 * piscina worker: the heavy per-module work, off the main thread so the daemon stays responsive.
 * `digest` hashes a module; `regenerate` runs pahole and resolves `.BTF_ids`, returning the
 * artifact's sections; `baseDiff` compares two bases; `relocate` rewrites a cached artifact onto
 * a new base. Neither writes the module: installing is the main thread's, after the
 * cache write. The task and result types live in module-worker-types.ts.
 *
 * A regeneration's result is only returned when it was computed from the planned inputs: pahole
 * reads a base snapshot (immutable, named by its digest), and the module must still be the file
 * that was planned once everything has read it — same stat, and, when the planned stat could hide
 * a write (racy), the same digest.
 */
import { spawn } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { BtfdError, codeOf, toBtfdError } from '../../shared/errors.js';
import { parseBtf } from '../btf/btf-reader.js';
import { digestModule, type ModuleDigest } from '../elf/elf-digest.js';
import { readElfLayout, readSections } from '../elf/elf-file.js';
import { installSections } from '../elf/elf-install.js';
import { computeBaseDiff, type BaseDiff } from '../btf/base-diff.js';
import { relocateSplitBtf, relocationTarget, type RelocationTarget } from '../btf/relocate.js';
import { decodeArtifact, sha256 } from '../engine/artifact.js';
import { formatCommand } from '../engine/pahole-argv.js';
import { readModuleNames } from '../elf/elf-names.js';
import { checkKernelModule } from '../elf/kernel-module.js';
import { createBaseViews, moduleDigestOptions, resolveForArtifact, type ResolutionCandidate } from '../engine/module-btf-ids.js';
import { sameStamp, stampOf } from '../fs/file-stamp.js';
import type {
  BaseDiffTask, BtfIdsHints, DigestResult, DigestTask, RegenerateResult, RegenerateTask, RelocateResult, RelocateTask, WorkerOutcome,
} from './module-worker-types.js';

/** Where the command quoted in a pahole failure writes its detached BTF. */
const REPRODUCE_OUTPUT = '/tmp/btfd-reproduce.btf';
/** pahole's stderr kept for error messages; enough for its diagnostics, bounded for huge dumps. */
const MAX_STDERR_BYTES = 16 * 1024;
/** How often a running pahole checks whether the engine is closing. */
const STOP_POLL_MS = 100;

/** Parsed base snapshots, per worker thread: every module of a tree names the same one. */
const baseViews = createBaseViews();

/** Run work and hand back its value or its coded error as data. */
async function outcome<T>(work: () => Promise<T>): Promise<WorkerOutcome<T>> {
  try {
    return { ok: true, value: await work() };
  } catch (err) {
    const error = toBtfdError(err);
    return { ok: false, code: error.code, message: error.message };
  }
}

/** The artifact a hint names, verified against its digest, as a resolution candidate. */
async function previousCandidate(hint: NonNullable<BtfIdsHints['previousArtifact']>): Promise<ResolutionCandidate | null> {
  const blob = await readFile(hint.blob).catch(() => null);
  if (blob === null || sha256(blob) !== hint.digest) return null;
  return { sections: decodeArtifact(blob).sections, base: () => baseViews.load(hint.baseSnapshot) };
}

/** The module digest, reading `.BTF_ids` in its pre-resolution form with the hints' BTFs. */
function moduleDigest(file: string, hints: BtfIdsHints): Promise<ModuleDigest> {
  const previous = hints.previousArtifact;
  return digestModule(file, moduleDigestOptions({
    bases: hints.baseSnapshots.map((snapshot) => () => baseViews.load(snapshot)),
    ...(previous ? { previous: () => previousCandidate(previous) } : {}),
  }));
}

/** The module's current output sections, `.BTF_ids` included. */
function currentOutputs(result: ModuleDigest): Record<string, Uint8Array> {
  const outputs: Record<string, Uint8Array> = Object.fromEntries(result.outputs);
  if (result.btfIds) outputs['.BTF_ids'] = result.btfIds.bytes;
  return outputs;
}

/** Hash a module's content (without output sections) and return its current output sections. */
export function digest(task: DigestTask): Promise<WorkerOutcome<DigestResult>> {
  return outcome(async () => {
    const result = await moduleDigest(task.path, task.btfIds);
    return { digest: result.digest, outputs: currentOutputs(result) };
  });
}

interface PaholeExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  /** Why btfd killed it, when it did: it ran out of time, or the engine is closing. */
  killed: 'timeout' | 'stopping' | null;
}

/**
 * Run pahole in a process group of its own, so that killing it also kills what it runs (objcopy,
 * a wrapper's children): after `timeoutMs`, or once the engine raises `stopFlag`, which a worker
 * thread cannot otherwise hear while it waits for pahole.
 */
function runPahole(paholePath: string, args: readonly string[], objcopy: string, timeoutMs: number, stopFlag: Int32Array): Promise<PaholeExit> {
  return new Promise((resolve, reject) => {
    // pahole adds .BTF through $LLVM_OBJCOPY; kbuild points it at GNU objcopy, and so do we.
    const child = spawn(paholePath, args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
      // BTFD_SHIM_DISABLE: should "pahole" resolve to btfd-pahole, it must not call back into us.
      env: { ...process.env, LLVM_OBJCOPY: objcopy, BTFD_SHIM_DISABLE: '1' },
    });
    let killed: PaholeExit['killed'] = null;
    const killGroup = (why: NonNullable<PaholeExit['killed']>): void => {
      if (killed !== null || child.pid === undefined) return;
      killed = why;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    const timer = setTimeout(() => killGroup('timeout'), timeoutMs);
    const watch = setInterval(() => {
      if (Atomics.load(stopFlag, 0) !== 0) killGroup('stopping');
    }, STOP_POLL_MS);
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      if (stderr.length < MAX_STDERR_BYTES) stderr += chunk.slice(0, MAX_STDERR_BYTES - stderr.length);
    });
    const done = (): void => {
      clearTimeout(timer);
      clearInterval(watch);
    };
    child.on('error', (err) => {
      done();
      reject(err);
    });
    child.on('close', (code, signal) => {
      done();
      resolve({ code, signal, stderr: stderr.trim(), killed });
    });
  });
}

/** Run pahole for the module and return the artifact's sections; the module is never written. */
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
 * @param input the module itself, or a private copy of it with a pristine `.BTF_ids`.
 */
async function encodeBtf(task: RegenerateTask, input: string, workDir: string): Promise<{ sections: Map<string, Buffer>; exit: PaholeExit; ms: number }> {
  const inPlace = needsInPlaceEncoding(task.flags);
  const target = inPlace && input === task.modulePath ? path.join(workDir, path.basename(task.modulePath)) : input;
  // A fresh path: pahole (<= 1.30) does not truncate an existing detached output file.
  const detached = path.join(workDir, 'module.btf');
  if (target !== input) await copyFile(input, target);
  const args = ['-J', ...task.flags, '--btf_base', task.baseSnapshot, ...(inPlace ? [] : [`--btf_encode_detached=${detached}`]), target];
  if (Atomics.load(task.stopFlag, 0) !== 0) throw new BtfdError('BTFD_ERR_DAEMON_SHUTTING_DOWN', `pahole was not started on ${task.modulePath}: the daemon is stopping`);
  const started = performance.now();
  const exit = await runPahole(task.paholePath, args, task.objcopy, task.timeoutMs, task.stopFlag).catch((err: unknown) => {
    throw new BtfdError('BTFD_ERR_TOOL_PAHOLE_MISSING', `could not run ${task.paholePath}`, { cause: err });
  });
  const ms = performance.now() - started;
  // The command to repeat by hand: as run, but the scratch dir is gone by then, so its copy of the
  // module becomes the module itself and the detached output a file in /tmp.
  const command = formatCommand([task.paholePath, ...args].map((arg) =>
    arg === target ? task.modulePath : arg.startsWith(`--btf_encode_detached=`) ? `--btf_encode_detached=${REPRODUCE_OUTPUT}` : arg));
  // pahole dies (SIGBUS) or fails when the module is rewritten under it: that is a change to
  // re-plan for, not a pahole crash to report.
  if (exit.signal !== null || exit.code !== 0) await checkStillPlanned(task, 'while pahole read it');
  if (exit.killed === 'timeout') {
    throw new BtfdError('BTFD_ERR_TOOL_PAHOLE_TIMEOUT', `pahole ran longer than ${task.timeoutMs} ms on ${task.modulePath} and was killed${exit.stderr ? `: ${exit.stderr}` : ''}; reproduce with: ${command}`);
  }
  if (exit.killed === 'stopping') throw new BtfdError('BTFD_ERR_DAEMON_SHUTTING_DOWN', `pahole on ${task.modulePath} was stopped: the daemon is stopping`);
  if (exit.signal !== null) {
    throw new BtfdError('BTFD_ERR_TOOL_PAHOLE_CRASHED', `pahole was killed by ${exit.signal} on ${task.modulePath}: ${exit.stderr}; reproduce with: ${command}`);
  }
  if (exit.code !== 0) {
    throw new BtfdError('BTFD_ERR_TOOL_PAHOLE_FAILED', `pahole exited with ${exit.code} on ${task.modulePath}: ${exit.stderr}; reproduce with: ${command}`);
  }
  const sections = inPlace
    ? await readSections(target, ['.BTF', '.BTF.base'])
    : new Map(await readFile(detached).then((btf) => [['.BTF', btf] as const], () => []));
  return { sections, exit, ms };
}

/**
 * pahole's exit status is not proof of BTF: a broken pahole (or a wrapper) can exit 0 with
 * anything. Its output must parse as split BTF on the base it was given before it is cached.
 */
async function checkPaholeOutput(sections: ReadonlyMap<string, Buffer>, task: RegenerateTask): Promise<void> {
  const btf = sections.get('.BTF')!;
  try {
    // With a distilled base, `.BTF` is split on the `.BTF.base` pahole wrote beside it.
    const distilled = sections.get('.BTF.base');
    const base = distilled ? parseBtf(distilled, null, `pahole's .BTF.base for ${task.modulePath}`) : (await baseViews.load(task.baseSnapshot)).btf;
    parseBtf(btf, base, `pahole's .BTF for ${task.modulePath}`);
  } catch (err) {
    if (codeOf(err) !== 'BTFD_ERR_BTF_MALFORMED') throw err;
    const head = btf.subarray(0, 8).toString('hex');
    throw new BtfdError('BTFD_ERR_TOOL_PAHOLE_OUTPUT_INVALID', `pahole exited 0 but its output is not valid BTF (${(err as Error).message}; ${btf.length} bytes starting ${head})`, { cause: err });
  }
}

/** What a task says of the module it was planned for. */
type PlannedModule = Pick<RegenerateTask, 'modulePath' | 'stamp' | 'moduleDigest'>;

/** Throw MODULE_CHANGED unless the module is still the file that was planned. */
async function checkStillPlanned(task: PlannedModule, when: string): Promise<void> {
  const now = await stat(task.modulePath, { bigint: true }).catch((err: unknown) => {
    throw new BtfdError('BTFD_ERR_MODULE_DELETED', `${task.modulePath} was deleted ${when}`, { cause: err });
  });
  if (!sameStamp(stampOf(now), task.stamp)) throw new BtfdError('BTFD_ERR_MODULE_CHANGED', `${task.modulePath} changed ${when}`);
}

/** Throw MODULE_CHANGED unless the module's digest is still the planned one. */
function checkDigest(task: PlannedModule, read: ModuleDigest, when: string): void {
  if (read.digest !== task.moduleDigest) throw new BtfdError('BTFD_ERR_MODULE_CHANGED', `${task.modulePath} changed ${when}`);
}

async function regenerateModule(task: RegenerateTask): Promise<RegenerateResult> {
  // The task may have waited in the queue: a module rewritten meanwhile is re-planned, not encoded.
  await checkStillPlanned(task, 'since it was planned');
  const layout = await readElfLayout(task.modulePath);
  checkKernelModule(layout);
  if (!layout.sections.some((section) => section.name === '.debug_info')) {
    throw new BtfdError('BTFD_ERR_MODULE_NO_DWARF', `${task.modulePath} has no .debug_info section`);
  }
  // .BTF_ids is resolved below from its pristine form, which the digest reads.
  const before = layout.sections.some((s) => s.name === '.BTF_ids') ? await moduleDigest(task.modulePath, task.btfIds) : undefined;
  if (before) checkDigest(task, before, 'since it was planned');
  // Named after this process: a sweep at start spares the dirs of a live one sharing the cache.
  const workDir = await mkdtemp(path.join(task.tmpRoot, `regen-${process.pid}-`));
  try {
    // pahole reads .BTF_ids too (1.30: kfunc flags become decl tags), as kbuild gives it: pristine.
    // A module whose section was already resolved is encoded from a private copy that is not.
    let input = task.modulePath;
    if (before?.btfIds && before.btfIdsPristine && !before.btfIds.bytes.equals(before.btfIdsPristine)) {
      input = path.join(workDir, `pristine-${path.basename(task.modulePath)}`);
      await copyFile(task.modulePath, input);
      await installSections(input, new Map([['.BTF_ids', before.btfIdsPristine]]));
    }
    const { sections, exit, ms } = await encodeBtf(task, input, workDir);
    if (!sections.has('.BTF') || sections.get('.BTF')!.length === 0) {
      throw new BtfdError('BTFD_ERR_MODULE_NO_DWARF', `pahole wrote no .BTF for ${task.modulePath}${exit.stderr ? `: ${exit.stderr}` : ''}`);
    }
    await checkPaholeOutput(sections, task);
    let warnings: readonly string[] = [];
    if (before?.btfIds && before.btfIdsPristine) {
      const resolved = await resolveForArtifact(before.btfIds, before.btfIdsPristine, sections, () => baseViews.load(task.baseSnapshot));
      sections.set('.BTF_ids', resolved.bytes);
      warnings = resolved.warnings;
    }
    // A stat that could hide a write (racy) proves nothing: read the module again now that pahole
    // is done. Otherwise an unchanged stat does.
    if (task.racy) checkDigest(task, await moduleDigest(task.modulePath, task.btfIds), 'while pahole read it');
    await checkStillPlanned(task, 'while pahole read it');
    return { sections: Object.fromEntries(sections), ms, stderr: exit.stderr, warnings };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/** Relocation targets (both bases parsed, B indexed) per pair of base snapshots, per thread. */
const relocationTargets = new Map<string, Promise<RelocationTarget>>();
const RELOCATION_TARGETS_KEPT = 2;

function relocationTargetFor(task: RelocateTask): Promise<RelocationTarget> {
  const key = `${task.oldBase}\0${task.newBase}`;
  let target = relocationTargets.get(key);
  if (!target) {
    target = (async () => relocationTarget((await baseViews.load(task.oldBase)).btf, (await baseViews.load(task.newBase)).btf, task.diff))();
    target.catch(() => relocationTargets.delete(key));
    relocationTargets.set(key, target);
    while (relocationTargets.size > RELOCATION_TARGETS_KEPT) relocationTargets.delete(relocationTargets.keys().next().value!);
  }
  return target;
}

/** Compare two bases, once per pair (see daemon/btf/base-diff.ts). */
export function baseDiff(task: BaseDiffTask): Promise<WorkerOutcome<BaseDiff>> {
  return outcome(async () => computeBaseDiff((await baseViews.load(task.oldBase)).btf, (await baseViews.load(task.newBase)).btf));
}

/**
 * Relocate the module's artifact from the old base onto the new one, or say why it cannot be
 * done exactly; `.BTF_ids` is resolved anew for the relocated `.BTF`.
 */
export function relocate(task: RelocateTask): Promise<WorkerOutcome<RelocateResult>> {
  return outcome(async (): Promise<RelocateResult> => {
    await checkStillPlanned(task, 'since it was planned');
    const blob = await readFile(task.artifact.blob).catch(() => null);
    if (blob === null || sha256(blob) !== task.artifact.digest) return { ok: false, reasons: ['the cached artifact on the old base is gone or corrupt'] };
    const artifact = decodeArtifact(blob);
    if (artifact.sections.has('.BTF.base')) return { ok: false, reasons: ['a distilled base (.BTF.base) is not relocated yet'] };
    const target = await relocationTargetFor(task);
    const relocated = await relocateSplitBtf(artifact.sections.get('.BTF')!, target, () => readModuleNames(task.modulePath, { dwarf: target.diff.witnesses.length > 0 }));
    if (!relocated.ok) return relocated;
    const sections = new Map([['.BTF', relocated.btf]]);
    if (artifact.sections.has('.BTF_ids')) {
      const read = await moduleDigest(task.modulePath, task.btfIds);
      checkDigest(task, read, 'since it was planned');
      if (read.btfIds && read.btfIdsPristine) {
        sections.set('.BTF_ids', (await resolveForArtifact(read.btfIds, read.btfIdsPristine, sections, () => baseViews.load(task.newBase))).bytes);
      }
    } else if (task.racy) {
      checkDigest(task, await moduleDigest(task.modulePath, task.btfIds), 'while it was relocated');
    }
    await checkStillPlanned(task, 'while it was relocated');
    return { ok: true, sections: Object.fromEntries(sections) };
  });
}
