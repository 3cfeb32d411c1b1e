/**
 * An oracle for `.BTF_ids` consistency that btfd did not write: bpftool reads the module's BTF
 * (with the base, or its own distilled `.BTF.base`), and every id slot must hold the first type
 * of its kind and name in that numbering, every set its members sorted (resolve_btfids' rules).
 * Only the slot positions come from btfd's ELF reader.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseBtfIdsLayout } from '../../daemon/btf/btf-ids.js';
import { readBtfIdsSource } from '../../daemon/elf/elf-symbols.js';

const execFileAsync = promisify(execFile);
const KIND_NAMES: Record<number, string> = { 4: 'STRUCT', 5: 'UNION', 8: 'TYPEDEF', 12: 'FUNC' };

/** `bpftool btf dump file` raw output → id → "KIND name". */
async function bpftoolTypes(bpftool: string, args: readonly string[]): Promise<Map<number, string>> {
  const { stdout } = await execFileAsync(bpftool, ['btf', 'dump', ...args], { maxBuffer: 512 * 1024 * 1024 });
  const types = new Map<number, string>();
  for (const line of stdout.split('\n')) {
    const m = /^\[(\d+)\] (\w+) '([^']*)'/.exec(line);
    if (m) types.set(Number(m[1]), `${m[2]} ${m[3]}`);
  }
  return types;
}

/**
 * Problems with the module's `.BTF_ids` (empty when consistent). `base` is the base file for
 * `-B`, or null for a module with a distilled `.BTF.base` (bpftool then uses that).
 */
export async function btfIdsProblems(module: string, base: string | null, bpftool: string): Promise<string[]> {
  const source = await readBtfIdsSource(module);
  if (!source) return [];
  const layout = parseBtfIdsLayout(source);
  // The base's types come first: the given base, or the module's distilled .BTF.base dumped alone.
  let baseTypes: Map<number, string>;
  if (base) {
    baseTypes = await bpftoolTypes(bpftool, ['file', base]);
  } else {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'btfd-base-'));
    try {
      await execFileAsync('objcopy', ['--dump-section', `.BTF.base=${path.join(dir, 'base.btf')}`, module, path.join(dir, 'discard.o')]);
      baseTypes = await bpftoolTypes(bpftool, ['file', path.join(dir, 'base.btf')]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  const types = new Map([...baseTypes, ...(await bpftoolTypes(bpftool, ['file', module, ...(base ? ['-B', base] : [])]))]);
  const firstId = new Map<string, number>();
  for (const [id, kindName] of [...types].sort((a, b) => a[0] - b[0])) if (!firstId.has(kindName)) firstId.set(kindName, id);
  const problems: string[] = [];
  const bytes = source.bytes;
  const inSet = new Set<number>();
  for (const set of layout.sets) {
    const stride = set.set8 ? 8 : 4;
    const start = set.offset + (set.set8 ? 8 : 4);
    const ids = Array.from({ length: set.count }, (_, i) => bytes.readInt32LE(start + i * stride));
    for (let i = 0; i < set.count; i++) inSet.add(start + i * stride);
    if (bytes.readInt32LE(set.offset) !== set.count) problems.push(`set ${set.name}: count ${bytes.readInt32LE(set.offset)}, expected ${set.count}`);
    if (ids.some((id, i) => i > 0 && id < ids[i - 1]!)) problems.push(`set ${set.name} is not sorted: ${ids.join(',')}`);
    // Sorting moves ids off their symbols' slots: the multiset of ids must still be the members'.
    const expected = Array.from({ length: set.count }, (_, i) => {
      const slot = layout.trees.flat().find((e) => e.offsets.some((o) => Math.floor(o / 4) * 4 === start + i * stride));
      return slot ? firstId.get(`${KIND_NAMES[slot.kind]} ${slot.name}`) ?? 0 : 0;
    }).sort((a, b) => a - b);
    if (expected.join(',') !== ids.join(',')) problems.push(`set ${set.name}: ids ${ids.join(',')}, expected ${expected.join(',')}`);
  }
  for (const entry of layout.trees.flat()) {
    const want = firstId.get(`${KIND_NAMES[entry.kind]} ${entry.name}`) ?? 0;
    for (const offset of entry.offsets) {
      const word = Math.floor(offset / 4) * 4;
      if (inSet.has(word)) continue;
      const got = bytes.readInt32LE(word);
      if (got !== want) problems.push(`${KIND_NAMES[entry.kind]} ${entry.name} at ${word}: id ${got}, expected ${want}`);
    }
  }
  return problems;
}
