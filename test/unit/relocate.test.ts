/**
 * Relocation's pure parts on real Debian BTF, without pahole (the integration test checks the
 * results against pahole): the base diff, a round trip through another base, refusals that name
 * what changed.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { computeBaseDiff } from '../../daemon/btf/base-diff.js';
import { BTF_KIND, describeType, parseBtf, type Btf } from '../../daemon/btf/btf-reader.js';
import { relocateSplitBtf, relocationTarget, type ModuleNames } from '../../daemon/btf/relocate.js';
import { readSections } from '../../daemon/elf/elf-file.js';
import { readModuleNames } from '../../daemon/elf/elf-names.js';
import { growStruct, permuteBase } from '../helpers/btf-edit.js';
import { DEBIAN_61_DATA } from '../helpers/test-data.js';

const MODULE = path.join(DEBIAN_61_DATA, 'kernel/net/ipv4/tcp_bbr.ko');

async function load(): Promise<{ a: Btf; split: Buffer; names: () => Promise<ModuleNames> }> {
  const a = parseBtf(await readFile(path.join(DEBIAN_61_DATA, 'vmlinux.btf')));
  const split = (await readSections(MODULE, ['.BTF'])).get('.BTF')!;
  return { a, split, names: () => readModuleNames(MODULE, { dwarf: true }) };
}

function idOf(btf: Btf, kind: number, name: string): number {
  for (let id = 1; id < btf.typeCount; id++) {
    if (btf.kinds[id - 1] === kind && describeType(btf, id).startsWith(`${name} (`)) return id;
  }
  assert.fail(`no ${name}`);
}

test('describeType reads a type as a person would', async () => {
  const { a } = await load();
  const skb = idOf(a, BTF_KIND.STRUCT, 'struct sk_buff');
  assert.equal(describeType(a, skb), `struct sk_buff (#${skb})`);
  const pointer = Array.from({ length: a.count }, (_, i) => i + 1).find(
    (id) => a.kinds[id - 1] === BTF_KIND.PTR && a.bytes.readUInt32LE(a.recordOffsets[id - 1]! + 8) === skb,
  )!;
  assert.equal(describeType(a, pointer), `pointer to struct sk_buff (#${pointer})`);
  assert.equal(describeType(a, 0), 'void (#0)');
});

test('a module relocated onto a reordered base and back is its original bytes', async () => {
  const { a, split, names } = await load();
  const b = parseBtf(permuteBase(a, 5));
  const there = computeBaseDiff(a, b);
  assert.deepEqual([there.gone, there.added, there.noWitness], [0, 0, 0], 'a reordering loses and gains nothing');
  const onB = await relocateSplitBtf(split, relocationTarget(a, b, there), names);
  assert.ok(onB.ok, JSON.stringify(onB));
  assert.notDeepEqual(onB.btf, split, 'base ids moved');
  parseBtf(onB.btf, b, 'relocated BTF');
  const back = await relocateSplitBtf(onB.btf, relocationTarget(b, a, computeBaseDiff(b, a)), names);
  assert.ok(back.ok, JSON.stringify(back));
  assert.deepEqual(back.btf, split);
});

test('a module that uses a changed struct is refused, and the reason names the type', async () => {
  const { a, split, names } = await load();
  const b = parseBtf(growStruct(a, 'sock'));
  const diff = computeBaseDiff(a, b);
  assert.ok(diff.gone > 0 && diff.added > 0, 'the struct and every type reaching it changed');
  const result = await relocateSplitBtf(split, relocationTarget(a, b, diff), names);
  assert.equal(result.ok, false);
  assert.ok(!result.ok && result.reasons.some((r) => /^base type (pointer to )?struct \w*sock\w* \(#\d+\) is gone or changed$/.test(r)), JSON.stringify(result));
});
