/**
 * The fuzz targets and their mutation engine, run inside a worker by parsers.test.ts (so a case
 * that hangs can be stopped and named). Seeded: case `i` of target `t` under seed `s` always
 * mutates the same bytes, so any failure reproduces with BTFD_FUZZ_SEED=s and its case number.
 *
 * Contract checked: on any input, the readers either succeed or throw a BtfdError with a catalog
 * code; anything else (a TypeError, a RangeError from a Buffer read, an out-of-memory) is a bug.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { btfIdsNeedLookups, parseBtfIdsLayout, pristineBtfIds, resolveBtfIds, type BtfIdsSource } from '../../daemon/btf/btf-ids.js';
import { buildNameIndex, chainLookup } from '../../daemon/btf/btf-names.js';
import { describeType, parseBtf, type Btf } from '../../daemon/btf/btf-reader.js';
import { digestModule } from '../../daemon/elf/elf-digest.js';
import { readElfLayout, readSections } from '../../daemon/elf/elf-file.js';
import { readModuleNames } from '../../daemon/elf/elf-names.js';
import { readBtfIdsSource } from '../../daemon/elf/elf-symbols.js';
import { moduleDigestOptions, viewOf } from '../../daemon/engine/module-btf-ids.js';
import { BtfdError, isErrorCode } from '../../shared/errors.js';
import { BTF_IDS_DATA, DEBIAN_61_DATA } from '../helpers/test-data.js';
import { seededRandom } from '../helpers/seeded-random.js';

export type TargetName = 'elf' | 'btf' | 'btf-ids';

export interface FuzzJob {
  readonly target: TargetName;
  readonly seed: number;
  readonly budgetMs: number;
}

/** Messages from the worker. */
export type FuzzMessage =
  | { readonly type: 'case'; readonly i: number }
  | { readonly type: 'failure'; readonly i: number; readonly input: string; readonly error: string }
  | { readonly type: 'done'; readonly cases: number; readonly codes: Record<string, number> };

const INTERESTING_U32 = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

/**
 * Mutate a copy of `input`: a few of bit flips, interesting bytes and u32s, zeroed or copied
 * ranges, a truncation. `hot` ranges (headers, tables) get half of the point mutations, since
 * that is where parsing decides.
 */
export function mutate(input: Buffer, random: () => number, hot: readonly (readonly [number, number])[] = []): Buffer {
  let out = Buffer.from(input);
  const pick = (n: number): number => Math.floor(random() * n);
  const position = (): number => {
    const range = hot.length > 0 && random() < 0.5 ? hot[pick(hot.length)]! : ([0, out.length] as const);
    const [start, end] = [Math.min(range[0], out.length), Math.min(range[1], out.length)];
    return end > start ? start + pick(end - start) : pick(Math.max(1, out.length));
  };
  const steps = 1 + pick(4);
  for (let s = 0; s < steps && out.length > 0; s += 1) {
    switch (pick(7)) {
      case 0: {
        const at = position();
        out[at] = (out[at] ?? 0) ^ (1 << pick(8));
        break;
      }
      case 1:
        out[position()] = [0, 0xff, 0x7f, 0x80, 1][pick(5)]!;
        break;
      case 2: {
        const at = Math.min(position(), out.length - 4);
        if (at >= 0) out.writeUInt32LE(INTERESTING_U32[pick(INTERESTING_U32.length)]!, at & ~3);
        break;
      }
      case 3: {
        const at = Math.min(position(), out.length - 4);
        if (at >= 0) out.writeUInt32LE((out.readUInt32LE(at & ~3) + [1, -1, 8, -8, 64][pick(5)]!) >>> 0, at & ~3);
        break;
      }
      case 4: {
        const at = position();
        out.fill(0, at, Math.min(out.length, at + 1 + pick(64)));
        break;
      }
      case 5: {
        const from = pick(out.length);
        const to = position();
        out.copy(out, to, from, Math.min(out.length, from + 1 + pick(32)));
        break;
      }
      case 6:
        out = out.subarray(0, pick(out.length));
        break;
    }
  }
  return out;
}

/** Run `fn`; a BtfdError with a catalog code is an answer, anything else is a failure. */
async function classify(fn: () => unknown): Promise<{ code: string } | { error: unknown }> {
  try {
    await fn();
    return { code: 'ok' };
  } catch (err) {
    if (err instanceof BtfdError && isErrorCode(err.code)) return { code: err.code };
    return { error: err };
  }
}

function describeError(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}\n${(err.stack ?? '').split('\n').slice(1, 5).join('\n')}`;
  return String(err);
}

/** What the engine does with a parsed BTF: index its names, describe its types (explain, relocation). */
function walk(btf: Btf): void {
  buildNameIndex(btf);
  for (let id = btf.firstId; id < btf.typeCount && id < btf.firstId + 2000; id += 1) describeType(btf, id);
}

interface Target {
  readonly inputs: readonly { readonly name: string; readonly bytes: Buffer; readonly hot: readonly (readonly [number, number])[] }[];
  run(bytes: Buffer, name: string): Promise<unknown>;
}

/** Sections whose bytes the readers parse (not just copy or hash). */
const PARSED_SECTIONS = new Set(['.symtab', '.strtab', '.shstrtab', '.BTF', '.BTF_ids', '.BTF.base', '.gnu.linkonce.this_module', '.modinfo']);

/**
 * ELF hot ranges: the ELF header, the section header table, and the sections the readers parse
 * (symbols, strings, BTF); the rest of a module is code and DWARF that they only hash.
 */
async function elfHot(file: string, bytes: Buffer): Promise<Array<[number, number]>> {
  const shoff = Number(bytes.readBigUInt64LE(0x28));
  const shnum = bytes.readUInt16LE(0x3c);
  const hot: Array<[number, number]> = [[0, 64], [shoff, shoff + shnum * 64]];
  for (const section of (await readElfLayout(file)).sections) {
    if (PARSED_SECTIONS.has(section.name)) hot.push([section.offset, section.offset + section.size]);
  }
  return hot;
}

async function elfTarget(scratch: string): Promise<Target> {
  const files = [
    ...['pristine.ko', 'resolved-6.1.ko', 'resolved-6.12.ko'].map((f) => path.join(BTF_IDS_DATA, f)),
    ...['lib/crc7.ko', 'lib/math/cordic.ko', 'net/ipv4/tcp_bbr.ko'].map((f) => path.join(DEBIAN_61_DATA, 'kernel', f)),
  ];
  const base = viewOf(fs.readFileSync(path.join(DEBIAN_61_DATA, 'vmlinux.btf')), 'vmlinux.btf');
  const fixtureBase = viewOf((await readSections(path.join(BTF_IDS_DATA, 'base.o'), ['.BTF'])).get('.BTF')!, 'base.o');
  const options = moduleDigestOptions({ bases: [async () => base, async () => fixtureBase] });
  const file = path.join(scratch, 'm.ko');
  return {
    inputs: await Promise.all(files.map(async (f) => {
      const bytes = fs.readFileSync(f);
      return { name: path.basename(f), bytes, hot: await elfHot(f, bytes) };
    })),
    async run(bytes) {
      fs.writeFileSync(file, bytes);
      const outcomes = [
        await classify(() => readElfLayout(file)),
        await classify(() => readSections(file, ['.BTF', '.BTF_ids', '.BTF.base'])),
        await classify(() => readBtfIdsSource(file)),
        await classify(() => readModuleNames(file, { dwarf: true })),
        await classify(() => digestModule(file, options)),
      ];
      return outcomes;
    },
  };
}

async function btfTarget(): Promise<Target> {
  const baseBytes = fs.readFileSync(path.join(DEBIAN_61_DATA, 'vmlinux.btf'));
  const base = parseBtf(baseBytes, null, 'vmlinux.btf');
  const fixtureBaseBytes = (await readSections(path.join(BTF_IDS_DATA, 'base.o'), ['.BTF'])).get('.BTF')!;
  const fixtureBase = parseBtf(fixtureBaseBytes, null, 'base.o');
  const modules = ['lib/crc7.ko', 'lib/math/cordic.ko', 'net/ipv4/tcp_bbr.ko', 'crypto/ecrdsa_generic.ko'];
  const inputs: { name: string; bytes: Buffer; hot: Array<[number, number]> }[] = [];
  for (const m of modules) {
    const bytes = (await readSections(path.join(DEBIAN_61_DATA, 'kernel', m), ['.BTF'])).get('.BTF')!;
    inputs.push({ name: m, bytes, hot: [[0, 24], [24, 24 + 4096]] });
  }
  const pristineBtf = (await readSections(path.join(BTF_IDS_DATA, 'pristine.ko'), ['.BTF'])).get('.BTF')!;
  inputs.push({ name: 'pristine.ko .BTF', bytes: pristineBtf, hot: [[0, 24]] });
  inputs.push({ name: 'base.o .BTF (a base)', bytes: fixtureBaseBytes, hot: [[0, 24]] });
  return {
    inputs,
    async run(bytes, name) {
      const onBase = name.startsWith('pristine') ? fixtureBase : name.startsWith('base.o') ? null : base;
      return classify(() => walk(parseBtf(bytes, onBase, name)));
    },
  };
}

async function btfIdsTarget(): Promise<Target> {
  const sources: { name: string; source: BtfIdsSource; lookup: ReturnType<typeof chainLookup> }[] = [];
  const fixtureBase = parseBtf((await readSections(path.join(BTF_IDS_DATA, 'base.o'), ['.BTF'])).get('.BTF')!, null, 'base.o');
  for (const f of ['pristine.ko', 'resolved-6.1.ko', 'resolved-6.12.ko']) {
    const file = path.join(BTF_IDS_DATA, f);
    const source = await readBtfIdsSource(file);
    const own = parseBtf((await readSections(file, ['.BTF'])).get('.BTF')!, fixtureBase, f);
    if (source) sources.push({ name: f, source, lookup: chainLookup([buildNameIndex(fixtureBase), buildNameIndex(own)]) });
  }
  // The symbols travel as a table of (name, value, size) after the section bytes, so one mutation
  // can hit either: 4-byte value, 4-byte size, 2-byte name length, name.
  const encode = (source: BtfIdsSource): Buffer => {
    const parts: Buffer[] = [Buffer.alloc(4)];
    parts[0]!.writeUInt32LE(source.bytes.length);
    parts.push(source.bytes);
    for (const symbol of source.symbols) {
      const name = Buffer.from(symbol.name);
      const head = Buffer.alloc(10);
      head.writeUInt32LE(symbol.value >>> 0, 0);
      head.writeUInt32LE(symbol.size >>> 0, 4);
      head.writeUInt16LE(name.length, 8);
      parts.push(head, name);
    }
    return Buffer.concat(parts);
  };
  const decode = (bytes: Buffer): BtfIdsSource | null => {
    if (bytes.length < 4) return null;
    const length = Math.min(bytes.readUInt32LE(0), bytes.length - 4);
    const section = bytes.subarray(4, 4 + length);
    const symbols: { name: string; value: number; size: number }[] = [];
    for (let at = 4 + length; at + 10 <= bytes.length;) {
      const value = bytes.readUInt32LE(at);
      const size = bytes.readUInt32LE(at + 4);
      const nameLength = bytes.readUInt16LE(at + 8);
      const name = bytes.subarray(at + 10, at + 10 + nameLength).toString('latin1');
      symbols.push({ name, value, size });
      at += 10 + nameLength;
    }
    return { bytes: Buffer.from(section), addr: 0, symbols };
  };
  return {
    inputs: sources.map((s) => {
      const bytes = encode(s.source);
      return { name: s.name, bytes, hot: [[4, 4 + s.source.bytes.length], [4 + s.source.bytes.length, bytes.length]] };
    }),
    async run(bytes, name) {
      const source = decode(bytes);
      if (source === null) return null;
      const lookup = sources.find((s) => s.name === name)!.lookup;
      return classify(() => {
        const layout = parseBtfIdsLayout(source);
        const needs = btfIdsNeedLookups(layout, source.bytes);
        const pristine = pristineBtfIds(layout, source.bytes, needs ? [lookup] : []);
        resolveBtfIds(layout, pristine, lookup);
      });
    },
  };
}

async function runJob(job: FuzzJob, post: (message: FuzzMessage) => void): Promise<void> {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'btfd-fuzz-'));
  try {
    const target = job.target === 'elf' ? await elfTarget(scratch) : job.target === 'btf' ? await btfTarget() : await btfIdsTarget();
    const codes: Record<string, number> = {};
    const deadline = Date.now() + job.budgetMs;
    let i = 0;
    for (; Date.now() < deadline; i += 1) {
      const random = seededRandom((job.seed ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0);
      const input = target.inputs[i % target.inputs.length]!;
      const bytes = mutate(input.bytes, random, input.hot);
      post({ type: 'case', i });
      const outcome = await target.run(bytes, input.name);
      for (const result of [outcome].flat()) {
        if (result === null || typeof result !== 'object') continue;
        if ('error' in result) post({ type: 'failure', i, input: input.name, error: describeError(result.error) });
        else if ('code' in result && typeof result.code === 'string') codes[result.code] = (codes[result.code] ?? 0) + 1;
      }
    }
    post({ type: 'done', cases: i, codes });
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

if (parentPort !== null && workerData !== undefined && workerData !== null) {
  const port = parentPort;
  void runJob(workerData as FuzzJob, (message) => port.postMessage(message));
}
