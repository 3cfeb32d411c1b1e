/**
 * Hostile files in a tree, built for real (FIFOs with mkfifo, symlinks, write-protected modules):
 * btfd refuses each with its code within a bounded time, writes nothing outside the tree it was
 * given, and goes on with the other modules.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { chmod, copyFile, mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { checkWriteTarget } from '../../daemon/fs/containment.js';
import { resolveConfig } from '../../shared/config.js';
import { parsePaholeModuleArgv } from '../../daemon/engine/pahole-argv.js';
import { createFixtureKernel } from '../fixtures/fixture-kernel.js';
import { cliHome, runCli } from '../helpers/cli-harness.js';
import { copyOutsideTree, tempDir, testEngine } from '../helpers/engine-harness.js';

/** Fails the test instead of hanging it: what a FIFO did before. */
function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

function mkfifo(file: string): void {
  execFileSync('mkfifo', [file]);
}

test('a FIFO named x.ko is refused at once; the other modules build', async (t) => {
  const dir = tempDir(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const fifo = path.join(kernel.dir, 'fifo.ko');
  mkfifo(fifo);
  const { engine } = testEngine(t);
  // Two FIFOs used to take two of libuv's four threads each time they were opened.
  const fifo2 = path.join(kernel.dir, 'fifo2.ko');
  mkfifo(fifo2);
  const report = await within(60_000, 'the build', engine.build({ dir: kernel.dir, modules: [fifo, fifo2, ...kernel.modules], paholeFlags: '' }));
  const codes = report.failures.map((f) => [path.basename(f.path), f.error?.code]);
  assert.deepEqual(codes, [['fifo.ko', 'BTFD_ERR_FILE_NOT_REGULAR'], ['fifo2.ko', 'BTFD_ERR_FILE_NOT_REGULAR']]);
  assert.equal(report.regenerated, kernel.modules.length);
  // explain reads the module without the build's checks: it must not block either.
  await assert.rejects(within(10_000, 'explain', engine.explain(fifo)), { code: 'BTFD_ERR_FILE_NOT_REGULAR' });
});

test('a FIFO as the base is refused at once', async (t) => {
  const dir = tempDir(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const base = path.join(dir, 'vmlinux-fifo');
  mkfifo(base);
  const { engine } = testEngine(t);
  await assert.rejects(within(10_000, 'the build', engine.build({ dir: kernel.dir, base, paholeFlags: '' })), { code: 'BTFD_ERR_BASE_INVALID', message: /is a FIFO/ });
});

/** POST a JSON body to the daemon on its socket; resolves with the status and parsed body. */
function postJson(socketPath: string, url: string, body: unknown, timeoutMs: number): Promise<{ status: number; body: { code?: string; results?: { error?: { code: string } }[] } }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path: url, method: 'POST', headers: { 'content-type': 'application/json' }, timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk)).on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('timeout', () => req.destroy(new Error(`${url} did not answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

test('the daemon answers FIFO modules with a code, stays responsive, and stops', async (t) => {
  const dir = tempDir(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const fifos = [path.join(kernel.dir, 'fifo.ko'), path.join(kernel.dir, 'fifo2.ko')];
  for (const fifo of fifos) mkfifo(fifo);
  const { env } = cliHome(t);
  const { socketPath } = resolveConfig({ env });
  assert.equal((await runCli(['start'], env, 30_000)).code, 0);
  const started = performance.now();
  const build = await postJson(socketPath, '/v1/build', { dir: kernel.dir, modules: fifos, paholeFlags: '' }, 30_000);
  const buildMs = Math.round(performance.now() - started);
  assert.deepEqual(build.body.results?.map((r) => r.error?.code), ['BTFD_ERR_FILE_NOT_REGULAR', 'BTFD_ERR_FILE_NOT_REGULAR']);
  const status = await runCli(['status', '--json'], env, 10_000);
  assert.equal(status.code, 0, status.stderr);
  const stopped = performance.now();
  const stop = await runCli(['stop'], env, 20_000);
  assert.equal(stop.code, 0, stop.stderr);
  t.diagnostic(`2 FIFO modules: build answered in ${buildMs} ms, stop took ${Math.round(performance.now() - stopped)} ms`);
});

test('a symlinked module is not written through, and its target outside the tree is untouched', async (t) => {
  const dir = tempDir(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const { file: target, bytes: before } = await copyOutsideTree(dir, kernel.modules[0]!);
  const link = path.join(kernel.dir, 'link.ko');
  await symlink(target, link);
  const { engine } = testEngine(t);
  const report = await engine.build({ dir: kernel.dir, modules: [link], paholeFlags: '' });
  assert.equal(report.failures[0]?.error?.code, 'BTFD_ERR_FILE_SYMLINK');
  assert.deepEqual(await readFile(target), before);
  // A full walk skips symlinked modules altogether.
  const walk = await engine.build({ dir: kernel.dir, paholeFlags: '' });
  assert.ok(!walk.results.some((r) => r.path === link));
  assert.deepEqual(await readFile(target), before);
});

test('modules outside the request\'s tree are refused: ../ paths and symlinked dirs', async (t) => {
  const dir = tempDir(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const { outside, file: victim, bytes: before } = await copyOutsideTree(dir, kernel.modules[0]!, 'x.ko');
  await symlink(outside, path.join(kernel.dir, 'linked-dir'));
  const { engine } = testEngine(t);
  const report = await engine.build({
    dir: kernel.dir, paholeFlags: '',
    modules: [path.join(kernel.dir, '..', 'elsewhere', 'x.ko'), 'linked-dir/x.ko', victim],
  });
  assert.deepEqual(report.failures.map((f) => f.error?.code), ['BTFD_ERR_FILE_OUTSIDE_TREE', 'BTFD_ERR_FILE_OUTSIDE_TREE', 'BTFD_ERR_FILE_OUTSIDE_TREE']);
  assert.deepEqual(await readFile(victim), before);
});

test('drop-in: --btf_encode_detached outside the module\'s build tree is refused, a missing dir is coded', async (t) => {
  const dir = tempDir(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const victim = path.join(dir, 'dot-bashrc');
  await writeFile(victim, 'export PS1=keep\n');
  const { engine } = testEngine(t);
  const module = path.relative(kernel.dir, kernel.modules[0]!);
  const request = (out: string) => parsePaholeModuleArgv(['-J', '--btf_base', 'vmlinux', `--btf_encode_detached=${out}`, module], kernel.dir)!;
  await assert.rejects(engine.encodeForPahole(request(victim)), { code: 'BTFD_ERR_FILE_OUTSIDE_TREE' });
  await assert.rejects(engine.encodeForPahole(request('../dot-bashrc')), { code: 'BTFD_ERR_FILE_OUTSIDE_TREE' });
  assert.equal(await readFile(victim, 'utf8'), 'export PS1=keep\n');
  // A symlink inside the tree pointing at the victim is not written through either.
  await symlink(victim, path.join(kernel.dir, 'out.BTF'));
  await assert.rejects(engine.encodeForPahole(request('out.BTF')), { code: 'BTFD_ERR_FILE_SYMLINK' });
  assert.equal(await readFile(victim, 'utf8'), 'export PS1=keep\n');
  await assert.rejects(engine.encodeForPahole(request('no-such-dir/m.BTF')), { code: 'BTFD_ERR_FILE_DIR_MISSING' });
  // Inside the tree it works, as kbuild uses it.
  const ok = await engine.encodeForPahole(request(`${module}.BTF.1`));
  assert.equal(ok.error, undefined);
  assert.equal((await readFile(path.join(kernel.dir, `${module}.BTF.1`))).readUInt16LE(0), 0xeb9f);
});

test('a write-protected module is refused and left exactly as it was', async (t) => {
  const dir = tempDir(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const module = kernel.modules[0]!;
  await chmod(module, 0o444);
  const before = { bytes: await readFile(module), stat: await stat(module) };
  const { engine } = testEngine(t);
  const report = await engine.build({ dir: kernel.dir, paholeFlags: '' });
  assert.deepEqual(report.failures.map((f) => [f.path, f.error?.code]), [[module, 'BTFD_ERR_FILE_READ_ONLY']]);
  assert.equal(report.regenerated, kernel.modules.length - 1);
  const after = await stat(module);
  assert.deepEqual(await readFile(module), before.bytes);
  assert.deepEqual([after.mode, after.uid, after.ino, after.mtimeMs], [before.stat.mode, before.stat.uid, before.stat.ino, before.stat.mtimeMs]);
});

test('another user\'s module is refused for a daemon that is not root (the rule, with the uid given)', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'm.ko');
  await writeFile(file, 'x');
  const owner = (await stat(file)).uid;
  await assert.rejects(checkWriteTarget(file, dir, 'module', owner + 1 === 0 ? 2 : owner + 1), { code: 'BTFD_ERR_FILE_READ_ONLY' });
  assert.equal((await checkWriteTarget(file, dir, 'module', owner)).stats?.uid, owner);
  // Root replaces it, keeping the owner (the atomic writer chowns the new file back).
  assert.ok(await checkWriteTarget(file, dir, 'module', 0));
});

test('btfd kbuild\'s checks do not block on a FIFO named Makefile or .config', async (t) => {
  const dir = tempDir(t);
  const tree = path.join(dir, 'kbuild');
  await mkdir(tree);
  mkfifo(path.join(tree, 'Makefile'));
  const { engine } = testEngine(t);
  await assert.rejects(within(10_000, 'the Makefile check', engine.checkKbuildTree(tree)), { code: 'BTFD_ERR_TREE_NOT_KBUILD' });
  await writeFile(path.join(dir, 'Makefile.real'), 'all:\n');
  execFileSync('rm', [path.join(tree, 'Makefile')]);
  await copyFile(path.join(dir, 'Makefile.real'), path.join(tree, 'Makefile'));
  mkfifo(path.join(tree, '.config'));
  const check = await within(30_000, 'the .config check', engine.checkKbuildTree(tree));
  assert.ok(check.checks.some((c) => !c.ok && /\.config/.test(c.line)), JSON.stringify(check.checks));
});
