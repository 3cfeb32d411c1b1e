/**
 * ELF reader, module digest and section installer, on real Debian modules and on a module built
 * here with gcc, checked against the real binutils, pahole and bpftool.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sameTypesUpToOrder } from '../../daemon/btf/btf-compare.js';
import { DEBIAN_61_DATA } from '../helpers/test-data.js';
import { test, type TestContext } from 'node:test';
import { BtfdError, type ErrorCode } from '../../shared/errors.js';
import { digestModule, type DigestOptions } from '../../daemon/elf/elf-digest.js';
import { readElfLayout, readSections, type ElfLayout, type ElfSection } from '../../daemon/elf/elf-file.js';
import { installSections } from '../../daemon/elf/elf-install.js';
import { moduleDigestOptions } from '../../daemon/engine/module-btf-ids.js';

const DATA = DEBIAN_61_DATA;
const VMLINUX_BTF = path.join(DATA, 'vmlinux.btf');
const MODULES = {
  tcp_dctcp: path.join(DATA, 'kernel/net/ipv4/tcp_dctcp.ko'),
  crc7: path.join(DATA, 'kernel/lib/crc7.ko'),
  sha1: path.join(DATA, 'kernel/arch/x86/crypto/sha1-ssse3.ko'),
};
/** Debian 6.1's PAHOLE_FLAGS with pahole 1.24. */
const KERNEL_FLAGS = ['--btf_gen_floats', '-j', '--lang_exclude=rust'];
/** The engine's digest: output sections left out, `.BTF_ids` in its pre-resolution form. */
const OUTPUTS = moduleDigestOptions();
/** The same, but `.BTF_ids` contents hashed as they are. */
const BTF_ONLY: DigestOptions = { excluded: ['.BTF', '.BTF.base'], canonicalBtfIds: (source) => source.bytes };

function tempDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'btfd-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function run(cmd: string, args: readonly string[], cwd?: string): string {
  // kbuild runs pahole with LLVM_OBJCOPY=$(OBJCOPY), i.e. GNU objcopy.
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, LLVM_OBJCOPY: 'objcopy' }, stdio: ['ignore', 'pipe', 'pipe'] });
}

function copy(src: string, dir: string, name: string): string {
  const dst = path.join(dir, name);
  fs.copyFileSync(src, dst);
  fs.chmodSync(dst, 0o644);
  return dst;
}

function dumpSection(file: string, name: string, dir: string): Buffer {
  const out = path.join(dir, `dump-${createHash('sha1').update(file + name).digest('hex')}`);
  run('objcopy', ['--dump-section', `${name}=${out}`, file, '/dev/null']);
  return fs.readFileSync(out);
}

/** readelf -S -W rows by index, as [name, type, addr, off, size, es, flg, lk, inf, al]. */
function readelfSections(file: string): Map<number, string[]> {
  const rows = new Map<number, string[]>();
  for (const line of run('readelf', ['-S', '-W', file]).split('\n')) {
    const m = /^\s*\[\s*(\d+)\]\s+(\S*)\s+(\S+)\s+([0-9a-f]{16})\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+(\S*?)\s*(\d+)\s+(\d+)\s+(\d+)\s*$/.exec(line);
    if (m !== null) rows.set(Number(m[1]), m.slice(2));
  }
  return rows;
}

function sectionBytes(file: string, s: ElfSection): Buffer {
  if (s.type === 8) return Buffer.alloc(0);
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(s.size);
    fs.readSync(fd, buf, 0, s.size, s.offset);
    return buf;
  } finally {
    fs.closeSync(fd);
  }
}

function byName(layout: ElfLayout, name: string): ElfSection {
  const s = layout.sections.find((x) => x.name === name);
  assert.ok(s, `section ${name} exists`);
  return s;
}

/**
 * Every section of `before` keeps its index, header fields (except sh_offset, and sh_size and
 * contents for the names in `changed`) and bytes in `after`; also as readelf sees it.
 */
async function assertPreserved(before: string, after: string, changed: readonly string[]): Promise<void> {
  const a = await readElfLayout(before);
  const b = await readElfLayout(after);
  assert.ok(b.shnum >= a.shnum);
  const ra = readelfSections(before);
  const rb = readelfSections(after);
  assert.equal(ra.size, a.shnum, 'readelf lists every section');
  assert.equal(rb.size, b.shnum, 'readelf lists every section after install');
  for (const sa of a.sections) {
    const sb = b.sections[sa.index];
    assert.ok(sb);
    const grows = changed.includes(sa.name);
    const { offset: _oa, size: sizeA, ...restA } = sa;
    const { offset: _ob, size: sizeB, ...restB } = sb;
    assert.deepEqual(restB, restA, `section ${sa.index} (${sa.name}) header`);
    if (!grows) {
      assert.equal(sizeB, sizeA, `section ${sa.index} (${sa.name}) size`);
      assert.ok(sectionBytes(after, sb).equals(sectionBytes(before, sa)), `section ${sa.index} (${sa.name}) bytes`);
    }
    const rowA = ra.get(sa.index);
    const rowB = rb.get(sa.index);
    assert.ok(rowA && rowB);
    const skip = grows ? [3, 4] : [3]; // Off, and Size for changed sections
    assert.deepEqual(rowB.filter((_, i) => !skip.includes(i)), rowA.filter((_, i) => !skip.includes(i)), `readelf row ${sa.index}`);
  }
}

function noTempFiles(dir: string): void {
  assert.deepEqual(fs.readdirSync(dir).filter((n) => n.includes('.btfd-')), []);
}

test('digest ignores output sections on Debian modules (removed, pahole, installSections, objcopy)', async (t) => {
  const dir = tempDir(t);
  for (const [name, src] of Object.entries(MODULES)) {
    const orig = copy(src, dir, `${name}.orig.ko`);
    const origLayout = await readElfLayout(orig);
    const btfIndex = byName(origLayout, '.BTF').index;
    assert.ok(btfIndex < origLayout.shnum - 3, `${name}: the distro's .BTF sits in the middle`);
    const distroBtf = dumpSection(orig, '.BTF', dir);

    const stripped = copy(orig, dir, `${name}.stripped.ko`);
    run('objcopy', ['--remove-section', '.BTF', stripped]);
    assert.equal((await readElfLayout(stripped)).sections.some((s) => s.name === '.BTF'), false);

    const paholed = copy(stripped, dir, `${name}.pahole.ko`);
    run('pahole', ['-J', ...KERNEL_FLAGS, '--btf_base', VMLINUX_BTF, paholed]);

    const installed = copy(stripped, dir, `${name}.installed.ko`);
    assert.equal(await installSections(installed, new Map([['.BTF', distroBtf]])), true);

    const added = copy(stripped, dir, `${name}.objcopy.ko`);
    const btfFile = path.join(dir, `${name}.btf`);
    fs.writeFileSync(btfFile, distroBtf);
    run('objcopy', ['--add-section', `.BTF=${btfFile}`, added]);

    const results = await Promise.all([orig, stripped, paholed, installed, added].map((f) => digestModule(f, OUTPUTS)));
    const digests = results.map((r) => r.digest);
    assert.match(digests[0] ?? '', /^[0-9a-f]{64}$/);
    assert.deepEqual(digests, digests.map(() => digests[0]), `${name}: one digest for all variants`);
    // Also when .BTF_ids is not treated as an output (the name list is part of the digest's meaning).
    const btfOnly = await Promise.all([orig, stripped, installed].map((f) => digestModule(f, BTF_ONLY)));
    assert.equal(new Set(btfOnly.map((r) => r.digest)).size, 1);

    const [rOrig, rStripped, rPahole, rInstalled] = results;
    assert.ok(rOrig?.outputs.get('.BTF')?.equals(distroBtf));
    assert.equal(rStripped?.outputs.has('.BTF'), false);
    assert.ok(rInstalled?.outputs.get('.BTF')?.equals(distroBtf));
    if (name === 'tcp_dctcp') {
      // pahole -j may order types by thread scheduling under load: require the same types.
      assert.ok(sameTypesUpToOrder(rPahole!.outputs.get('.BTF')!, distroBtf, fs.readFileSync(path.join(DATA, 'vmlinux.btf'))), 'pahole reproduces the distro types');
      assert.ok(rOrig?.btfIds?.bytes.length, '.BTF_ids is returned with its symbols');
    } else {
      assert.ok(rPahole?.outputs.get('.BTF'));
    }
  }
  noTempFiles(dir);
});

test('digest changes when non-output content changes', async (t) => {
  const dir = tempDir(t);
  const orig = copy(MODULES.tcp_dctcp, dir, 'orig.ko');
  const layout = await readElfLayout(orig);
  const base = (await digestModule(orig, OUTPUTS)).digest;

  const flipAt = (name: string, at: number): string => {
    const f = copy(orig, dir, `${name.replace(/\W/g, '_')}-${at}.ko`);
    const buf = fs.readFileSync(f);
    buf.writeUInt8((buf[at] ?? 0) ^ 0x01, at);
    fs.writeFileSync(f, buf);
    return f;
  };
  const text = byName(layout, '.text');
  const symtab = byName(layout, '.symtab');
  const variants = [
    flipAt('.text', text.offset + 5),
    flipAt('.symtab value', symtab.offset + 24 * 3 + 8),
    flipAt('.symtab shndx', symtab.offset + 24 * 3 + 6),
    flipAt('.modinfo', byName(layout, '.modinfo').offset + 2),
  ];
  for (const f of variants) {
    assert.notEqual((await digestModule(f, OUTPUTS)).digest, base, `${path.basename(f)} changes the digest`);
  }
  // Resolved .BTF_ids content does not count (the flipped word is a slot); raw, it would.
  const ids = flipAt('.BTF_ids', byName(layout, '.BTF_ids').offset);
  assert.equal((await digestModule(ids, OUTPUTS)).digest, base);
  assert.notEqual((await digestModule(ids, BTF_ONLY)).digest, (await digestModule(orig, BTF_ONLY)).digest);
  // A renamed section (same length, so no layout change) changes the digest too.
  const renamed = copy(orig, dir, 'renamed.ko');
  const buf = fs.readFileSync(renamed);
  const strtab = byName(layout, '.shstrtab');
  const at = buf.indexOf('.comment\0', strtab.offset, 'latin1');
  assert.ok(at > 0);
  buf.write('.cOmment', at, 'latin1');
  fs.writeFileSync(renamed, buf);
  assert.notEqual((await digestModule(renamed, OUTPUTS)).digest, base);
});

/** tcp_dctcp as Debian ships it, its `.BTF`, and a copy without `.BTF` (as ld leaves a module). */
function dctcpWithoutBtf(dir: string): { orig: string; distroBtf: Buffer; stripped: string } {
  const orig = copy(MODULES.tcp_dctcp, dir, 'orig.ko');
  const distroBtf = dumpSection(orig, '.BTF', dir);
  const stripped = copy(orig, dir, 'stripped.ko');
  run('objcopy', ['--remove-section', '.BTF', stripped]);
  return { orig, distroBtf, stripped };
}

test('installSections adds, keeps, replaces and is a no-op when nothing changes', async (t) => {
  const dir = tempDir(t);
  const { orig, distroBtf, stripped } = dctcpWithoutBtf(dir);
  const m = copy(stripped, dir, 'm.ko');
  fs.chmodSync(m, 0o640);
  const digest = (await digestModule(m, OUTPUTS)).digest;

  assert.equal(await installSections(m, new Map([['.BTF', distroBtf]])), true);
  noTempFiles(dir);
  assert.equal(fs.statSync(m).mode & 0o777, 0o640, 'file mode kept');
  const after = await readElfLayout(m);
  const btf = byName(after, '.BTF');
  assert.equal(btf.index, after.shnum - 1, 'new section appended at the end of the table');
  assert.equal(btf.type, 1);
  assert.equal(btf.flags, 0n);
  assert.equal(btf.addralign, 1);
  assert.ok(dumpSection(m, '.BTF', dir).equals(distroBtf), 'objcopy reads back the bytes');
  assert.ok((await readSections(m, ['.BTF'])).get('.BTF')?.equals(distroBtf));
  await assertPreserved(stripped, m, ['.shstrtab']);
  run('readelf', ['-a', '-W', m]);
  run('objdump', ['-h', m]);
  const dump = run('bpftool', ['-B', VMLINUX_BTF, 'btf', 'dump', 'file', m]);
  assert.match(dump, /STRUCT 'dctcp'/);
  assert.equal((await digestModule(m, OUTPUTS)).digest, digest);

  // Same bytes again: nothing written, not even the mtime.
  const st1 = fs.statSync(m, { bigint: true });
  assert.equal(await installSections(m, new Map([['.BTF', distroBtf]])), false);
  const st2 = fs.statSync(m, { bigint: true });
  assert.equal(st2.mtimeNs, st1.mtimeNs);
  assert.equal(st2.ino, st1.ino);

  // Replace with other sizes: the index stays, the other sections stay.
  const installed = copy(m, dir, 'installed.ko');
  for (const bytes of [Buffer.concat([distroBtf, Buffer.alloc(777, 0xab)]), distroBtf.subarray(0, 100)]) {
    assert.equal(await installSections(m, new Map([['.BTF', bytes]])), true);
    const l = await readElfLayout(m);
    assert.equal(byName(l, '.BTF').index, btf.index);
    assert.ok(dumpSection(m, '.BTF', dir).equals(bytes));
    await assertPreserved(installed, m, ['.BTF']);
    assert.equal((await digestModule(m, OUTPUTS)).digest, digest);
  }

  // Replacing a distro .BTF in the middle keeps its index, type, flags and alignment.
  const mid = copy(orig, dir, 'mid.ko');
  const midBtf = byName(await readElfLayout(mid), '.BTF');
  assert.equal(await installSections(mid, new Map([['.BTF', distroBtf.subarray(0, 64)]])), true);
  assert.deepEqual({ ...byName(await readElfLayout(mid), '.BTF'), offset: 0, size: 0 }, { ...midBtf, offset: 0, size: 0 });
  await assertPreserved(orig, mid, ['.BTF']);

  // Two sections at once, one new (.BTF.base), one unchanged.
  const base = Buffer.from('distilled base bytes');
  assert.equal(await installSections(m, new Map([['.BTF', distroBtf], ['.BTF.base', base]])), true);
  const withBase = await readElfLayout(m);
  assert.equal(byName(withBase, '.BTF.base').index, withBase.shnum - 1);
  assert.ok(dumpSection(m, '.BTF.base', dir).equals(base));
  assert.ok(dumpSection(m, '.BTF', dir).equals(distroBtf));
  run('bpftool', ['-B', VMLINUX_BTF, 'btf', 'dump', 'file', m]);
  run('readelf', ['-a', '-W', m]);
  assert.equal((await digestModule(m, OUTPUTS)).digest, digest);
  assert.equal(await installSections(m, new Map([['.BTF', distroBtf], ['.BTF.base', base]])), false);
  noTempFiles(dir);
});

test('installSections writes in place: only the new bytes, the ELF header last, compacted when dead bytes pile up', async (t) => {
  const dir = tempDir(t);
  const { distroBtf, stripped } = dctcpWithoutBtf(dir);
  const m = copy(stripped, dir, 'm.ko');
  const digest = (await digestModule(m, OUTPUTS)).digest;
  const before = fs.statSync(m, { bigint: true });
  const oldBytes = fs.readFileSync(m);

  assert.equal(await installSections(m, new Map([['.BTF', distroBtf]])), true);
  const after = fs.statSync(m, { bigint: true });
  assert.equal(after.ino, before.ino, 'the same file, written in place');
  const layout = await readElfLayout(m);
  // Old end (aligned), the new .BTF and grown .shstrtab, then the new table: nothing else.
  const grown = byName(layout, '.shstrtab').size;
  assert.ok(Number(after.size) <= Number(before.size) + 8 + distroBtf.length + grown + 8 + layout.shnum * 64, `${after.size} bytes`);
  assert.ok(fs.readFileSync(m).subarray(64, oldBytes.length).equals(oldBytes.subarray(64)), 'no byte of the old module but its header is overwritten');
  assert.ok(after.mtimeNs < after.ctimeNs, 'mtime set below ctime: any later write moves it');
  assert.ok(after.mtimeNs > before.mtimeNs);
  assert.ok(dumpSection(m, '.BTF', dir).equals(distroBtf));
  await assertPreserved(stripped, m, ['.shstrtab']);
  run('bpftool', ['-B', VMLINUX_BTF, 'btf', 'dump', 'file', m]);
  assert.equal((await digestModule(m, OUTPUTS)).digest, digest);

  // A crash before the header write leaves the old header over the appended bytes: the old module.
  const crashed = path.join(dir, 'crashed.ko');
  const bytes = fs.readFileSync(m);
  oldBytes.copy(bytes, 0, 0, 64);
  fs.writeFileSync(crashed, bytes);
  const { path: _c, fileSize: _cs, ...crashedLayout } = await readElfLayout(crashed);
  const { path: _s, fileSize: _ss, ...strippedLayout } = await readElfLayout(stripped);
  assert.deepEqual(crashedLayout, strippedLayout);
  assert.equal(run('readelf', ['-S', '-W', crashed]).replace(crashed, ''), run('readelf', ['-S', '-W', stripped]).replace(stripped, ''));
  assert.equal((await digestModule(crashed, OUTPUTS)).digest, digest);

  // Installs over installs: sizes stay bounded (a rewrite compacts), contents always right.
  const sizes: number[] = [];
  for (let i = 0; i < 40; i++) {
    const btf = Buffer.concat([distroBtf, Buffer.alloc(i % 2 === 0 ? 5000 : 9000, i)]);
    assert.equal(await installSections(m, new Map([['.BTF', btf]])), true);
    assert.ok((await readSections(m, ['.BTF'])).get('.BTF')?.equals(btf));
    sizes.push(fs.statSync(m).size);
  }
  assert.ok(Math.max(...sizes) < oldBytes.length * 1.25 + 64 * 1024 + 20_000, `sizes ${sizes.join(' ')}`);
  assert.ok(sizes.some((size, i) => i > 0 && size < sizes[i - 1]!), 'a compacting rewrite happened');
  await assertPreserved(stripped, m, ['.shstrtab', '.BTF']);
  run('readelf', ['-a', '-W', m]);
  assert.equal((await digestModule(m, OUTPUTS)).digest, digest);
  noTempFiles(dir);
});

test('installSections rewrites a hard-linked module instead of writing through to its other names', async (t) => {
  const dir = tempDir(t);
  const m = copy(MODULES.crc7, dir, 'm.ko');
  run('objcopy', ['--remove-section', '.BTF', m]);
  const other = path.join(dir, 'other-tree.ko');
  fs.linkSync(m, other);
  const otherBytes = fs.readFileSync(other);
  assert.equal(await installSections(m, new Map([['.BTF', Buffer.from('new bytes')]])), true);
  assert.ok(fs.readFileSync(other).equals(otherBytes), 'the other name still has the old module');
  assert.notEqual(fs.statSync(m).ino, fs.statSync(other).ino);
  assert.equal((await readSections(m, ['.BTF'])).get('.BTF')?.toString(), 'new bytes');
  const st = fs.statSync(m, { bigint: true });
  assert.ok(st.mtimeNs < st.ctimeNs, 'a rewritten module is stamped too');
  noTempFiles(dir);
});

test('a gcc-built module: pahole, objcopy and installSections agree on the digest', async (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'base.c'), 'struct task { int pid; long state; };\nstruct task *current_task;\nint base_fn(struct task *t) { return t->pid; }\n');
  fs.writeFileSync(path.join(dir, 'mod.c'), [
    'struct task { int pid; long state; };',
    'struct widget { struct task *owner; unsigned char bytes[16]; double ratio; };',
    'static struct widget widgets[4];',
    'int widget_count = 4;',
    'int widget_pid(int i) { return widgets[i & 3].owner ? widgets[i & 3].owner->pid : -1; }',
    '__attribute__((section(".init.text"))) int widget_init(void) { widgets[0].ratio = 0.5; return 0; }',
    '',
  ].join('\n'));
  run('gcc', ['-g', '-O1', '-c', 'base.c', '-o', 'base.o'], dir);
  run('pahole', ['-J', 'base.o'], dir);
  run('gcc', ['-g', '-O1', '-c', 'mod.c', '-o', 'mod.o'], dir);
  run('ld', ['-r', '-o', 'mod.ko', 'mod.o'], dir);
  const mod = path.join(dir, 'mod.ko');
  const before = await digestModule(mod, OUTPUTS);
  assert.equal(before.outputs.size, 0);

  const paholed = copy(mod, dir, 'pahole.ko');
  run('pahole', ['-J', '--btf_base', 'base.o', paholed], dir);
  const btf = dumpSection(paholed, '.BTF', dir);
  assert.match(run('bpftool', ['-B', path.join(dir, 'base.o'), 'btf', 'dump', 'file', paholed]), /STRUCT 'widget'/);

  const installed = copy(mod, dir, 'installed.ko');
  assert.equal(await installSections(installed, new Map([['.BTF', btf]])), true);
  await assertPreserved(mod, installed, ['.shstrtab']);
  assert.match(run('bpftool', ['-B', path.join(dir, 'base.o'), 'btf', 'dump', 'file', installed]), /STRUCT 'widget'/);

  const added = copy(mod, dir, 'added.ko');
  fs.writeFileSync(path.join(dir, 'x.btf'), btf);
  run('objcopy', ['--add-section', `.BTF=${path.join(dir, 'x.btf')}`, added]);
  const removed = copy(added, dir, 'removed.ko');
  run('objcopy', ['--remove-section', '.BTF', removed]);

  for (const f of [paholed, installed, added, removed]) {
    assert.equal((await digestModule(f, OUTPUTS)).digest, before.digest, path.basename(f));
  }
  // Compiled from different source: a different digest.
  fs.writeFileSync(path.join(dir, 'mod.c'), fs.readFileSync(path.join(dir, 'mod.c'), 'utf8').replace('return 0;', 'return 1;'));
  run('gcc', ['-g', '-O1', '-c', 'mod.c', '-o', 'mod2.o'], dir);
  run('ld', ['-r', '-o', 'mod2.ko', 'mod2.o'], dir);
  assert.notEqual((await digestModule(path.join(dir, 'mod2.ko'), OUTPUTS)).digest, before.digest);
});

test('extended section numbering (e_shnum 0, SHN_XINDEX) is read and kept', async (t) => {
  const dir = tempDir(t);
  const orig = copy(MODULES.crc7, dir, 'orig.ko');
  const layout = await readElfLayout(orig);
  const ext = copy(orig, dir, 'ext.ko');
  const buf = fs.readFileSync(ext);
  buf.writeUInt16LE(0, 60);
  buf.writeUInt16LE(0xffff, 62);
  buf.writeBigUInt64LE(BigInt(layout.shnum), layout.shoff + 32);
  buf.writeUInt32LE(layout.shstrndx, layout.shoff + 40);
  fs.writeFileSync(ext, buf);
  const extLayout = await readElfLayout(ext);
  assert.equal(extLayout.shnum, layout.shnum);
  assert.equal(extLayout.shstrndx, layout.shstrndx);
  assert.deepEqual(extLayout.sections.slice(1), layout.sections.slice(1));
  assert.equal((await digestModule(ext, OUTPUTS)).digest, (await digestModule(orig, OUTPUTS)).digest);

  assert.equal(await installSections(ext, new Map([['.BTF.base', Buffer.from('b')]])), true);
  const after = fs.readFileSync(ext);
  assert.equal(after.readUInt16LE(60), 0, 'e_shnum stays 0');
  const l = await readElfLayout(ext);
  assert.equal(l.shnum, layout.shnum + 1);
  assert.equal(after.readBigUInt64LE(l.shoff + 32), BigInt(layout.shnum + 1), 'count in section 0');
  assert.ok((await readSections(ext, ['.BTF.base'])).get('.BTF.base')?.equals(Buffer.from('b')));
  run('readelf', ['-S', '-W', ext]);
});

test('hostile and broken files give the right error from every entry point and are never touched', async (t) => {
  const dir = tempDir(t);
  const good = fs.readFileSync(MODULES.crc7);
  const layout = await readElfLayout(MODULES.crc7);
  const text = byName(layout, '.text');
  const shdrAt = (s: ElfSection, field: number): number => layout.shoff + s.index * 64 + field;
  const patched = (edit: (b: Buffer) => void): Buffer => {
    const b = Buffer.from(good);
    edit(b);
    return b;
  };
  let seed = 12345;
  const random = Buffer.alloc(4096);
  for (let i = 0; i < random.length; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    random[i] = seed >> 16;
  }
  random[0] = 0x42;
  const debugInfo = byName(layout, '.debug_info');
  const cases: [string, Buffer, ErrorCode][] = [
    ['empty', Buffer.alloc(0), 'BTFD_ERR_ELF_NOT_ELF'],
    ['random', random, 'BTFD_ERR_ELF_NOT_ELF'],
    ['text', Buffer.from('obj-m += crc7.o\n'), 'BTFD_ERR_ELF_NOT_ELF'],
    ['cut in magic', good.subarray(0, 3), 'BTFD_ERR_ELF_TRUNCATED'],
    ['cut in ELF header', good.subarray(0, 40), 'BTFD_ERR_ELF_TRUNCATED'],
    ['cut in section data', good.subarray(0, debugInfo.offset + 100), 'BTFD_ERR_ELF_TRUNCATED'],
    ['cut in section headers', good.subarray(0, layout.shoff + 64 * 3 + 10), 'BTFD_ERR_ELF_TRUNCATED'],
    ['section data past EOF', patched((b) => b.writeBigUInt64LE(BigInt(good.length), shdrAt(text, 32))), 'BTFD_ERR_ELF_TRUNCATED'],
    ['e_shoff past EOF', patched((b) => b.writeBigUInt64LE(BigInt(good.length + 4096), 40)), 'BTFD_ERR_ELF_TRUNCATED'],
    ['e_shoff huge', patched((b) => b.writeBigUInt64LE(0xffff_ffff_ffff_fff0n, 40)), 'BTFD_ERR_ELF_MALFORMED'],
    ['32-bit', patched((b) => b.writeUInt8(1, 4)), 'BTFD_ERR_ELF_UNSUPPORTED'],
    ['big-endian', patched((b) => b.writeUInt8(2, 5)), 'BTFD_ERR_ELF_UNSUPPORTED'],
    ['bad class', patched((b) => b.writeUInt8(7, 4)), 'BTFD_ERR_ELF_MALFORMED'],
    ['offset+size overflow', patched((b) => b.writeBigUInt64LE(0xffff_ffff_ffff_fff0n, shdrAt(text, 32))), 'BTFD_ERR_ELF_MALFORMED'],
    ['shstrndx out of range', patched((b) => b.writeUInt16LE(layout.shnum + 5, 62)), 'BTFD_ERR_ELF_MALFORMED'],
    ['shstrndx 0', patched((b) => b.writeUInt16LE(0, 62)), 'BTFD_ERR_ELF_MALFORMED'],
    ['shstrndx not a strtab', patched((b) => b.writeUInt16LE(text.index, 62)), 'BTFD_ERR_ELF_MALFORMED'],
    ['e_shentsize', patched((b) => b.writeUInt16LE(32, 58)), 'BTFD_ERR_ELF_MALFORMED'],
    ['e_shnum 0 without count', patched((b) => b.writeUInt16LE(0, 60)), 'BTFD_ERR_ELF_MALFORMED'],
    ['huge extended count', patched((b) => { b.writeUInt16LE(0, 60); b.writeBigUInt64LE(1n << 40n, layout.shoff + 32); }), 'BTFD_ERR_ELF_MALFORMED'],
    ['name outside shstrtab', patched((b) => b.writeUInt32LE(0x7fff_0000, shdrAt(text, 0))), 'BTFD_ERR_ELF_MALFORMED'],
    ['overlapping sections', patched((b) => b.writeBigUInt64LE(BigInt(byName(layout, '.modinfo').offset), shdrAt(text, 24))), 'BTFD_ERR_ELF_MALFORMED'],
    ['section over the headers', patched((b) => b.writeBigUInt64LE(BigInt(layout.shoff), shdrAt(text, 24))), 'BTFD_ERR_ELF_MALFORMED'],
    ['alignment not a power of two', patched((b) => b.writeBigUInt64LE(3n, shdrAt(text, 48))), 'BTFD_ERR_ELF_MALFORMED'],
  ];
  for (const [name, bytes, code] of cases) {
    const sub = fs.mkdtempSync(path.join(dir, 'case-'));
    const f = path.join(sub, 'm.ko');
    fs.writeFileSync(f, bytes);
    const isCode = (err: unknown): boolean => {
      assert.ok(err instanceof BtfdError, `${name}: a BtfdError, got ${String(err)}`);
      assert.equal(err.code, code, `${name}: ${err.message}`);
      return true;
    };
    await assert.rejects(readElfLayout(f), isCode);
    await assert.rejects(digestModule(f, OUTPUTS), isCode);
    await assert.rejects(readSections(f, ['.BTF']), isCode);
    await assert.rejects(installSections(f, new Map([['.BTF', Buffer.from('new bytes')]])), isCode);
    assert.ok(fs.readFileSync(f).equals(bytes), `${name}: file untouched`);
    assert.deepEqual(fs.readdirSync(sub), ['m.ko'], `${name}: no temp file left`);
  }

  // A symbol with SHN_XINDEX but no SHT_SYMTAB_SHNDX section: the header table is fine, the digest is not.
  const symtab = byName(layout, '.symtab');
  const xindex = path.join(dir, 'xindex.ko');
  fs.writeFileSync(xindex, patched((b) => b.writeUInt16LE(0xffff, symtab.offset + 24 * 2 + 6)));
  await readElfLayout(xindex);
  await assert.rejects(digestModule(xindex, OUTPUTS), { code: 'BTFD_ERR_ELF_MALFORMED' });

  // Missing files and directories.
  await assert.rejects(readElfLayout(path.join(dir, 'nope.ko')), { code: 'BTFD_ERR_MODULE_NOT_FOUND' });
  await assert.rejects(installSections(path.join(dir, 'nope.ko'), new Map([['.BTF', Buffer.from('x')]])), { code: 'BTFD_ERR_MODULE_NOT_FOUND' });
  await assert.rejects(digestModule(dir, OUTPUTS), { code: 'BTFD_ERR_FILE_NOT_REGULAR' });
});

test('installSections refuses what it must not rewrite and leaves the file alone', async (t) => {
  const dir = tempDir(t);
  const m = copy(MODULES.crc7, dir, 'm.ko');
  const bytes = fs.readFileSync(m);
  await assert.rejects(installSections(m, new Map([['.symtab', Buffer.from('x')]])), { code: 'BTFD_ERR_ELF_MALFORMED' });
  await assert.rejects(installSections(m, new Map([['.shstrtab', Buffer.from('x')]])), { code: 'BTFD_ERR_INTERNAL' });
  await assert.rejects(installSections(m, new Map([['bad\0name', Buffer.from('x')]])), { code: 'BTFD_ERR_INTERNAL' });
  const obj = path.join(dir, 'exe');
  fs.writeFileSync(path.join(dir, 'main.c'), 'int main(void) { return 0; }\n');
  run('gcc', ['-o', obj, path.join(dir, 'main.c')]);
  const exe = fs.readFileSync(obj);
  await assert.rejects(installSections(obj, new Map([['.BTF', Buffer.from('x')]])), { code: 'BTFD_ERR_ELF_UNSUPPORTED' });
  assert.ok(fs.readFileSync(obj).equals(exe));
  assert.ok(fs.readFileSync(m).equals(bytes));
  noTempFiles(dir);
  // An executable can still be read and digested.
  assert.ok((await readElfLayout(obj)).phnum > 0);
  assert.match((await digestModule(obj, OUTPUTS)).digest, /^[0-9a-f]{64}$/);
});

test('installSections writes through a symlink to the real file', async (t) => {
  const dir = tempDir(t);
  const real = copy(MODULES.crc7, dir, 'real.ko');
  const link = path.join(dir, 'link.ko');
  fs.symlinkSync(real, link);
  assert.equal(await installSections(link, new Map([['.BTF.base', Buffer.from('abc')]])), true);
  assert.ok(fs.lstatSync(link).isSymbolicLink());
  assert.ok((await readSections(real, ['.BTF.base'])).get('.BTF.base')?.equals(Buffer.from('abc')));
});

test('over 65280 sections: SHN_XINDEX symbols and shifted indices keep the digest', async (t) => {
  const dir = tempDir(t);
  // .BTF first, so removing it shifts every other index; symbols past 0xff00 need SHN_XINDEX in
  // one file and not in the other.
  const lines = ['.section .BTF,"",@progbits', '.byte 1,2,3'];
  for (let i = 0; i < 65400; i++) lines.push(`.section .text.f${i},"ax",@progbits`, `.globl f${i}`, `f${i}: ret`);
  lines.push('.data', '.quad f1', '.quad f65399', '');
  fs.writeFileSync(path.join(dir, 'big.s'), lines.join('\n'));
  run('gcc', ['-c', 'big.s', '-o', 'big.o'], dir);
  const big = path.join(dir, 'big.o');
  const layout = await readElfLayout(big);
  assert.equal(layout.shnum, 65410);
  assert.ok(layout.sections.some((s) => s.type === 18), 'has SHT_SYMTAB_SHNDX');
  const removed = copy(big, dir, 'removed.o');
  run('objcopy', ['--remove-section', '.BTF', removed]);
  const digest = (await digestModule(big, OUTPUTS)).digest;
  assert.equal((await digestModule(removed, OUTPUTS)).digest, digest);

  const started = Date.now();
  assert.equal(await installSections(removed, new Map([['.BTF', Buffer.from([1, 2, 3])]])), true);
  assert.ok(Date.now() - started < 5000, 'installing into many small sections stays fast');
  assert.equal((await digestModule(removed, OUTPUTS)).digest, digest);
  assert.ok(dumpSection(removed, '.BTF', dir).equals(Buffer.from([1, 2, 3])));
  assert.match(run('readelf', ['-h', removed]), /Number of section headers:\s+0 \(65410\)/);
  // A symbol in a shifted section, moved by one: the digest sees it.
  const moved = copy(big, dir, 'moved.o');
  const buf = fs.readFileSync(moved);
  const symtab = byName(layout, '.symtab');
  let patchedOne = false;
  for (let at = symtab.offset + 24; at < symtab.offset + symtab.size; at += 24) {
    const shndx = buf.readUInt16LE(at + 6);
    if (shndx > 100 && shndx < 0xff00) {
      buf.writeUInt16LE(shndx + 1, at + 6);
      patchedOne = true;
      break;
    }
  }
  assert.ok(patchedOne);
  fs.writeFileSync(moved, buf);
  assert.notEqual((await digestModule(moved, OUTPUTS)).digest, digest);
});

test('a write that fails (file size limit) leaves the original and no temp file', async (t) => {
  const dir = tempDir(t);
  const m = copy(MODULES.tcp_dctcp, dir, 'm.ko');
  run('objcopy', ['--remove-section', '.BTF', m]);
  const before = fs.readFileSync(m);
  const elfJs = new URL('../../daemon/elf/elf-install.js', import.meta.url).href;
  const script = [
    `const { installSections } = await import(${JSON.stringify(elfJs)});`,
    'try {',
    `  await installSections(${JSON.stringify(m)}, new Map([['.BTF', Buffer.alloc(100, 1)]]));`,
    "  console.log(JSON.stringify({ code: 'none' }));",
    '} catch (err) {',
    '  console.log(JSON.stringify({ code: err.code, cause: err.cause?.code }));',
    '}',
  ].join('\n');
  // RLIMIT_FSIZE of 200 KiB: nothing can be appended to a 550 KiB module (EFBIG; node ignores SIGXFSZ).
  const out = execFileSync('bash', ['-c', 'ulimit -f 200 && exec "$0" --input-type=module -e "$1"', process.execPath, script], { encoding: 'utf8' });
  assert.deepEqual(JSON.parse(out), { code: 'BTFD_ERR_ELF_WRITE_FAILED', cause: 'EFBIG' });
  assert.ok(fs.readFileSync(m).equals(before));
  noTempFiles(dir);
});
