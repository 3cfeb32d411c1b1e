/** Base BTF digest: ELF `.BTF` section and raw BTF hash the same, on files made with gcc and pahole. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEBIAN_61_DATA } from '../helpers/test-data.js';
import { test, type TestContext } from 'node:test';
import { digestBase } from '../../daemon/engine/base-btf.js';

const VMLINUX_BTF = path.join(DEBIAN_61_DATA, 'vmlinux.btf');

function tempDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'btfd-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function run(cmd: string, args: readonly string[], cwd: string): void {
  execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LLVM_OBJCOPY: 'objcopy' } });
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Compile C source to an ELF object with .BTF (pahole -J), like a tiny vmlinux. */
function makeBase(dir: string, name: string, source: string): string {
  fs.writeFileSync(path.join(dir, `${name}.c`), source);
  run('gcc', ['-g', '-c', `${name}.c`, '-o', `${name}.o`], dir);
  run('pahole', ['-J', `${name}.o`], dir);
  return path.join(dir, `${name}.o`);
}

test('an ELF .BTF and the same bytes as a raw file have one digest', async (t) => {
  const dir = tempDir(t);
  const elf = makeBase(dir, 'base', 'struct task { int pid; long state; };\nstruct task *current_task;\n');
  const raw = path.join(dir, 'base.btf');
  run('objcopy', ['--dump-section', `.BTF=${raw}`, elf, '/dev/null'], dir);
  const rawBytes = fs.readFileSync(raw);
  const fromElf = await digestBase(elf);
  const fromRaw = await digestBase(raw);
  assert.equal(fromElf.kind, 'elf');
  assert.equal(fromRaw.kind, 'raw');
  assert.equal(fromElf.digest, fromRaw.digest);
  assert.equal(fromElf.digest, sha256(rawBytes));
  assert.equal(fromElf.bytes, rawBytes.length);
  assert.equal(fromRaw.bytes, rawBytes.length);

  // Other types: another digest.
  const other = makeBase(dir, 'other', 'struct task { int pid; long state; int prio; };\nstruct task *current_task;\n');
  assert.notEqual((await digestBase(other)).digest, fromElf.digest);

  // The rest of the ELF changing (as when vmlinux relinks) does not matter; the same types rebuilt do not either.
  const relinked = path.join(dir, 'relinked.o');
  fs.copyFileSync(elf, relinked);
  fs.writeFileSync(path.join(dir, 'junk'), Buffer.alloc(4096, 0x5a));
  run('objcopy', ['--add-section', `.junk=${path.join(dir, 'junk')}`, '--remove-section', '.comment', relinked], dir);
  assert.notEqual(sha256(fs.readFileSync(relinked)), sha256(fs.readFileSync(elf)));
  assert.equal((await digestBase(relinked)).digest, fromElf.digest);
  const again = makeBase(dir, 'again', 'struct task { int pid; long state; };\nstruct task *current_task;\n');
  assert.equal((await digestBase(again)).digest, fromElf.digest);
});

test('the Debian vmlinux.btf is raw BTF', async () => {
  const bytes = fs.readFileSync(VMLINUX_BTF);
  const d = await digestBase(VMLINUX_BTF);
  assert.equal(d.kind, 'raw');
  assert.equal(d.bytes, bytes.length);
  assert.equal(d.digest, sha256(bytes));
});

test('missing, BTF-less and invalid bases give their codes', async (t) => {
  const dir = tempDir(t);
  await assert.rejects(digestBase(path.join(dir, 'vmlinux')), { code: 'BTFD_ERR_BASE_MISSING' });
  fs.writeFileSync(path.join(dir, 'plain.c'), 'int x;\n');
  run('gcc', ['-g', '-c', 'plain.c', '-o', 'plain.o'], dir);
  await assert.rejects(digestBase(path.join(dir, 'plain.o')), { code: 'BTFD_ERR_BASE_NO_BTF' });
  const write = (name: string, b: Buffer): string => {
    fs.writeFileSync(path.join(dir, name), b);
    return path.join(dir, name);
  };
  await assert.rejects(digestBase(write('text', Buffer.from('not btf at all'))), { code: 'BTFD_ERR_BASE_INVALID' });
  await assert.rejects(digestBase(write('empty', Buffer.alloc(0))), { code: 'BTFD_ERR_BASE_INVALID' });
  const head = fs.readFileSync(VMLINUX_BTF).subarray(0, 64);
  await assert.rejects(digestBase(write('short', head.subarray(0, 10))), { code: 'BTFD_ERR_BASE_INVALID' });
  const v2 = Buffer.from(head);
  v2[2] = 2;
  await assert.rejects(digestBase(write('v2', v2)), { code: 'BTFD_ERR_BASE_INVALID' });
  await assert.rejects(digestBase(dir), { code: 'BTFD_ERR_BASE_INVALID' });
  // An ELF whose .BTF is not BTF.
  const fake = path.join(dir, 'fake.o');
  fs.copyFileSync(path.join(dir, 'plain.o'), fake);
  fs.writeFileSync(path.join(dir, 'junk'), Buffer.alloc(64, 0x11));
  run('objcopy', ['--add-section', `.BTF=${path.join(dir, 'junk')}`, fake], dir);
  await assert.rejects(digestBase(fake), { code: 'BTFD_ERR_BASE_INVALID' });
  // A truncated ELF keeps the ELF code, which says what is wrong.
  const elf = fs.readFileSync(path.join(dir, 'plain.o'));
  await assert.rejects(digestBase(write('cut.o', elf.subarray(0, 100))), { code: 'BTFD_ERR_ELF_TRUNCATED' });
});
