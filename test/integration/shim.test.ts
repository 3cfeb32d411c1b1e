/**
 * client/bin/btfd-pahole, the kbuild drop-in, run as make runs it (execve of the script):
 * - calls that are not module BTF requests reach pahole with the identical argv, and pahole's
 *   exit status, stdout and stderr come back unchanged (a fake pahole logs argv byte for byte);
 * - the shim's idea of a module request agrees with the daemon's reader (pahole-argv.ts), and it
 *   sends the argv as JSON that survives quotes and backslashes (a recording socket server);
 * - the real daemon, running the real pahole, answers module requests: in place and detached,
 *   a second call is fresh, the module ends newer than vmlinux as make needs;
 * - with no daemon, a stale socket, a non-socket, or a daemon error, the shim runs the real
 *   pahole itself, with pahole's own exit status and stderr;
 * - it finds the socket where shared/paths.ts puts it, and never runs itself as "the real pahole".
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { requestHello } from '../../client/daemon-client.js';
import { parsePaholeModuleArgv } from '../../daemon/engine/pahole-argv.js';
import { resolveLayout } from '../../shared/paths.js';
import { createFixtureKernel, fixturePahole, type FixtureKernel } from '../fixtures/fixture-kernel.js';
import { createFakePahole } from '../helpers/fake-pahole.js';

const execFileAsync = promisify(execFile);
/** dist/test/integration → the repo root, where the shim lives (tsc does not copy it). */
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SHIM = path.join(REPO_ROOT, 'client', 'bin', 'btfd-pahole');
const DAEMON_MAIN = fileURLToPath(new URL('../../daemon/main.js', import.meta.url));
const REAL_PAHOLE = fixturePahole();
const DAEMON_START_MS = 15_000;
const SHIM_TIMEOUT_MS = 60_000;
/** kbuild's flags for pahole 1.24, minus -j: without it pahole's output is deterministic. */
const FLAGS = ['--btf_gen_floats', '--lang_exclude=rust'];

interface RunResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The environment without any BTFD_* of the caller's, with GNU objcopy for pahole as kbuild sets. */
function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith('BTFD_') && !key.startsWith('FAKE_PAHOLE_')) env[key] = value;
  }
  env['LLVM_OBJCOPY'] ??= 'objcopy';
  return env;
}

/** Run `file args` (async: a recording server in this process must keep answering). */
function run(file: string, args: readonly string[], opts: { cwd: string; env: Record<string, string> }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, [...args], { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'], timeout: SHIM_TIMEOUT_MS });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
  });
}

function runShim(args: readonly string[], cwd: string, env: Record<string, string>): Promise<RunResult> {
  return run(SHIM, args, { cwd, env: { ...cleanEnv(), ...env } });
}

function tempDir(t: TestContext): string {
  const dir = fs.realpathSync(fs.mkdtempSync('/tmp/btfd-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly contentType: string;
  readonly body: unknown;
}

/** A unix socket HTTP server that records requests and answers what the test says. */
async function recordingServer(t: TestContext, socketPath: string): Promise<{
  requests: RecordedRequest[];
  answer: { status: number; body: string; hangUp?: boolean };
}> {
  const state = { requests: [] as RecordedRequest[], answer: { status: 422, body: '{"statusCode":422,"code":"BTFD_ERR_SHIM_UNHANDLED","error":"Unprocessable Entity","message":"no"}', hangUp: false } };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = { unparsable: text };
      }
      state.requests.push({ method: req.method ?? '', url: req.url ?? '', contentType: req.headers['content-type'] ?? '', body });
      if (state.answer.hangUp) {
        req.socket.destroy();
        return;
      }
      res.writeHead(state.answer.status, { 'content-type': 'application/json' });
      res.end(state.answer.body);
    });
  });
  fs.mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o700 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, resolve);
  });
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return state;
}

/** The real daemon on `home`, running the real pahole; stopped in t.after. */
async function startDaemon(t: TestContext, home: string): Promise<{ socketPath: string; child: ChildProcess; stop(signal?: NodeJS.Signals): Promise<void> }> {
  const socketPath = path.join(home, 'run', 'btfd.sock');
  const child = spawn(process.execPath, [DAEMON_MAIN, '--pahole', REAL_PAHOLE, '--workers', '1'], {
    env: { ...cleanEnv(), BTFD_HOME: home },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await Promise.race([exited, sleep(10_000, undefined, { ref: false })]);
  };
  t.after(() => stop('SIGKILL'));
  const deadline = Date.now() + DAEMON_START_MS;
  for (;;) {
    try {
      await requestHello(socketPath, 1000);
      break;
    } catch (err) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`daemon did not start: ${stderr}`, { cause: err });
      await sleep(100);
    }
  }
  return { socketPath, child, stop };
}

function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

async function sectionNames(file: string): Promise<string[]> {
  const { stdout } = await execFileAsync('readelf', ['-SW', file]);
  return [...stdout.matchAll(/\]\s+(\S+)/g)].map((m) => m[1]!);
}

/** The module's .BTF bytes (objcopy --dump-section; the section is not alloc in modules). */
async function btfOf(file: string): Promise<Buffer> {
  const out = `${file}.dumped-btf`;
  await execFileAsync('objcopy', ['--dump-section', `.BTF=${out}`, file, '/dev/null']);
  const bytes = fs.readFileSync(out);
  fs.rmSync(out);
  return bytes;
}

/** Put `file`'s mtime `secondsAgo` in the past. */
function age(file: string, secondsAgo: number): void {
  const when = new Date(Date.now() - secondsAgo * 1000);
  fs.utimesSync(file, when, when);
}

const mtimeMs = (file: string): number => fs.statSync(file).mtimeMs;

/** A copy of the fixture kernel's module `ko` (relative) named `name` in the same dir. */
function copyModule(kernel: FixtureKernel, ko: string, name: string): string {
  const rel = path.join(path.dirname(ko), name);
  fs.copyFileSync(path.join(kernel.dir, ko), path.join(kernel.dir, rel));
  return rel;
}

test('calls that are not module BTF requests reach pahole with the identical argv and its answer', async (t) => {
  const dir = tempDir(t);
  const fake = createFakePahole(dir);
  const server = await recordingServer(t, path.join(dir, 's.sock'));
  const env = { BTFD_PAHOLE: fake.path, BTFD_SOCKET: path.join(dir, 's.sock'), BTFD_SHIM_DEBUG: '1' };
  const cases: Array<{ args: string[]; status?: number; stdout?: string; stderr?: string }> = [
    { args: ['--version'], stdout: 'v1.24\n' },
    // scripts/link-vmlinux.sh: vmlinux's own BTF, no --btf_base.
    { args: ['-J', '--btf_gen_floats', '-j', '--lang_exclude=rust', '.tmp_vmlinux.btf'] },
    { args: ['-C', 'struct task_struct', 'we"ird\\ arg', 'two\nlines', '', '*', 'vmlinux'], stdout: 'struct task_struct {\n};\n' },
    { args: ['--version'], status: 3, stderr: 'pahole: something broke\n' },
    { args: ['-J', '--btf_gen_floats', 'drivers/x/m.ko'], status: 1, stderr: 'pahole: no base\n' },
    // Near misses: the value of an option, two modules, not a .ko, no -J, end of options.
    { args: ['-J', '--btf_base', 'vmlinux', '--btf_features', 'm.ko'] },
    { args: ['-J', '--btf_base', 'vmlinux', '--lang_exclude', 'rust', 'a.ko', 'b.ko'] },
    { args: ['-J', '--btf_base=vmlinux', 'm.o'] },
    { args: ['--btf_base', 'vmlinux', 'm.ko'] },
    { args: ['-J', '--btf_base', 'vmlinux', '--', 'm.ko'] },
    { args: ['-J', 'm.ko', '--btf_base'] },
    // pahole reports the missing value itself (the daemon's reader would take it as in place).
    { args: ['-J', '--btf_base', 'vmlinux', 'm.ko', '--btf_encode_detached'], status: 64, stderr: "pahole: option '--btf_encode_detached' requires an argument\n" },
    { args: [] },
  ];
  for (const c of cases) {
    fake.reset();
    const r = await runShim(c.args, dir, { ...env, ...fake.env(c) });
    const label = JSON.stringify(c.args);
    assert.deepEqual(fake.calls(), [{ cwd: dir, args: c.args }], `${label}: pahole gets the identical argv`);
    assert.deepEqual(r, { status: c.status ?? 0, stdout: c.stdout ?? '', stderr: c.stderr ?? '' }, `${label}: pahole's answer, and nothing of the shim's`);
    if (!c.args.includes('--') && c.args.at(-1) !== '--btf_encode_detached') assert.equal(parsePaholeModuleArgv(c.args, dir), null, `${label}: the daemon agrees it is not a module request`);
  }
  assert.equal(server.requests.length, 0, 'the daemon is never asked');

  // BTFD_STABLE_BASE=1: vmlinux's own encoding loses -j (byte-stable base); nothing else changes.
  const stable = { ...env, BTFD_STABLE_BASE: '1' };
  const vmlinuxCall = ['-J', '--btf_gen_floats', '-j', '--lang_exclude=rust', '--jobs=4', '-j2', '.tmp_vmlinux.btf'];
  fake.reset();
  await runShim(vmlinuxCall, dir, { ...stable, ...fake.env() });
  assert.deepEqual(fake.calls(), [{ cwd: dir, args: ['-J', '--btf_gen_floats', '--lang_exclude=rust', '.tmp_vmlinux.btf'] }]);
  for (const args of [['--version'], ['-C', 'struct task_struct', '-j', 'vmlinux']]) {
    fake.reset();
    await runShim(args, dir, { ...stable, ...fake.env() });
    assert.deepEqual(fake.calls(), [{ cwd: dir, args }], `${JSON.stringify(args)}: not an encoding call, argv untouched`);
  }
});

test('module requests go to the daemon as JSON; any failure to answer falls back to pahole', async (t) => {
  const dir = tempDir(t);
  const fake = createFakePahole(dir);
  const socket = path.join(dir, 's.sock');
  const server = await recordingServer(t, socket);
  fs.mkdirSync(path.join(dir, 'sub', 'we"ird\\name'), { recursive: true });
  const cwd = path.join(dir, 'sub');
  const env = { BTFD_PAHOLE: fake.path, BTFD_SOCKET: socket };
  const cases = [
    ['-J', '--btf_gen_floats', '-j', '--lang_exclude', 'rust', '--btf_base', 'vmlinux', 'drivers/x/m.ko'],
    ['-J', '--btf_features=encode_force,var', '--btf_base=vmlinux', '--btf_encode_detached=m.BTF.1', 'm.ko'],
    ['--btf_encode', '--btf_base', '../vmlinux', '--btf_encode_detached', 'out.BTF', 'we"ird\\name/m.ko'],
    ['-J', '--btf_features', 'encode_force,var', '--btf_base', '/abs/vmlinux', '/abs/x.ko'],
  ];
  for (const args of cases) {
    const label = JSON.stringify(args);
    assert.notEqual(parsePaholeModuleArgv(args, cwd), null, `${label}: the daemon reads it as a module request`);
    fake.reset();
    server.requests.length = 0;
    // The daemon refuses: the shim runs pahole with the same argv, and pahole's answer is the shim's.
    server.answer = { status: 500, body: '{"statusCode":500,"code":"BTFD_ERR_INTERNAL","error":"x","message":"y"}' };
    const r = await runShim(args, cwd, { ...env, ...fake.env({ status: 3, stderr: 'pahole: failed\n' }) });
    assert.equal(server.requests.length, 1, `${label}: the daemon is asked once`);
    const request = server.requests[0]!;
    assert.equal(request.method, 'POST');
    assert.equal(request.url, '/v1/pahole');
    assert.equal(request.contentType, 'application/json');
    assert.deepEqual(request.body, { args, cwd }, `${label}: argv and cwd arrive intact`);
    assert.deepEqual(fake.calls(), [{ cwd, args }], `${label}: fallback with the identical argv`);
    // pahole's status and stderr, after one line saying why the daemon did not answer.
    assert.deepEqual([r.status, r.stdout], [3, '']);
    assert.match(r.stderr, /^btfd-pahole: running pahole: the daemon at \S+ answered HTTP 500: .*\npahole: failed\n$/);
    const quiet = await runShim(args, cwd, { ...env, ...fake.env({ status: 3, stderr: 'pahole: failed\n' }), BTFD_SHIM_QUIET: '1' });
    assert.deepEqual(quiet, { status: 3, stdout: '', stderr: 'pahole: failed\n' }, 'BTFD_SHIM_QUIET=1: pahole\'s stderr alone');
  }

  // The daemon resolves `..` lexically: from a symlinked dir the shim must send the physical cwd.
  const physical = path.join(cwd, 'we"ird\\name');
  const link = path.join(dir, 'link');
  fs.symlinkSync(physical, link);
  server.requests.length = 0;
  await run(SHIM, cases[2]!, { cwd: link, env: { ...cleanEnv(), ...env, ...fake.env(), PWD: link } });
  assert.deepEqual(server.requests.map((r) => (r.body as { cwd?: unknown }).cwd), [physical]);

  // 200: pahole is not run; the in-place module is touched, a detached request's module is not.
  server.answer = { status: 200, body: '{"result":{"path":"/x","outcome":"fresh","reason":"r","ms":1}}' };
  fs.mkdirSync(path.join(cwd, 'drivers', 'x'), { recursive: true });
  const module = path.join(cwd, 'drivers', 'x', 'm.ko');
  fs.writeFileSync(module, 'not really an ELF');
  age(module, 100);
  const before = mtimeMs(module);
  fake.reset();
  const inPlace = await runShim(cases[0]!, cwd, { ...env, ...fake.env() });
  assert.deepEqual(inPlace, { status: 0, stdout: '', stderr: '' });
  assert.ok(mtimeMs(module) > before + 50_000, 'in place: the module is touched');
  age(module, 100);
  const frozen = mtimeMs(module);
  const detached = await runShim(['-J', '--btf_base', 'vmlinux', '--btf_encode_detached=m.BTF.1', 'drivers/x/m.ko'], cwd, { ...env, ...fake.env() });
  assert.deepEqual(detached, { status: 0, stdout: '', stderr: '' });
  assert.equal(mtimeMs(module), frozen, 'detached: the module is left alone');
  const debug = await runShim(cases[0]!, cwd, { ...env, ...fake.env(), BTFD_SHIM_DEBUG: '1' });
  assert.equal(debug.stderr, 'btfd-pahole: drivers/x/m.ko: fresh by the daemon\n');
  assert.deepEqual(fake.calls(), [], 'pahole never ran');
  // The daemon saw to the module's times (it says so, or an older one installed it): no touch.
  for (const body of [
    '{"result":{"path":"/x","outcome":"fresh","reason":"r","ms":1},"touched":true}',
    '{"result":{"path":"/x","outcome":"restored","reason":"r","ms":1}}',
  ]) {
    server.answer = { status: 200, body };
    age(module, 100);
    const untouched = mtimeMs(module);
    assert.deepEqual(await runShim(cases[0]!, cwd, { ...env, ...fake.env() }), { status: 0, stdout: '', stderr: '' });
    assert.equal(mtimeMs(module), untouched, `${body}: the shim does not touch`);
  }

  // A connection the server drops, a control character, BTFD_SHIM_DISABLE: pahole runs.
  server.answer = { status: 200, body: '{}', hangUp: true };
  const dropped = await runShim(cases[0]!, cwd, { ...env, ...fake.env(), BTFD_SHIM_DEBUG: '1' });
  assert.equal(dropped.status, 0);
  assert.match(dropped.stderr, /^btfd-pahole: running pahole: curl failed \(exit \d+\)/);
  server.answer = { status: 200, body: '{"result":{}}' };
  const requestsBefore = server.requests.length;
  const oddArgs = ['-J', '--btf_base', 'vmlinux', '--lang_exclude', 'ru\nst', 'drivers/x/m.ko'];
  assert.deepEqual(await runShim(oddArgs, cwd, { ...env, ...fake.env() }), {
    status: 0, stdout: '', stderr: 'btfd-pahole: running pahole: an argument holds a control character\n',
  });
  assert.deepEqual(await runShim(cases[0]!, cwd, { ...env, ...fake.env(), BTFD_SHIM_DISABLE: '1' }), { status: 0, stdout: '', stderr: '' });
  assert.equal(server.requests.length, requestsBefore, 'neither reached the daemon');
  assert.deepEqual(fake.calls().slice(-2), [{ cwd, args: oddArgs }, { cwd, args: cases[0]! }]);
});

test('the shim looks for the socket where shared/paths.ts puts it', async (t) => {
  const dir = tempDir(t);
  const fake = createFakePahole(dir);
  const uid = os.userInfo().uid;
  const layout = (env: Record<string, string>, home: string | null): string =>
    resolveLayout({ home, env, uid, userHome: os.homedir() }).socketPath;
  const longDir = path.join(dir, 'x'.repeat(60), 'y'.repeat(40));
  const args = ['-J', '--btf_base', 'vmlinux', 'm.ko'];
  const cases: Array<{ env: Record<string, string>; want: string }> = [
    { env: { BTFD_HOME: path.join(dir, 'h') }, want: layout({}, path.join(dir, 'h')) },
    { env: { BTFD_HOME: `${dir}/h/` }, want: layout({}, path.join(dir, 'h')) },
    { env: { BTFD_HOME: 'rel' }, want: layout({}, path.join(dir, 'rel')) },
    { env: { BTFD_HOME: longDir }, want: layout({}, longDir) },
    { env: { XDG_RUNTIME_DIR: path.join(dir, 'xdg') }, want: layout({ XDG_RUNTIME_DIR: path.join(dir, 'xdg') }, null) },
    { env: { XDG_RUNTIME_DIR: longDir }, want: layout({ XDG_RUNTIME_DIR: longDir }, null) },
    { env: { XDG_RUNTIME_DIR: 'relative' }, want: layout({ XDG_RUNTIME_DIR: 'relative' }, null) },
    { env: { BTFD_SOCKET: path.join(dir, 'explicit.sock'), BTFD_HOME: path.join(dir, 'h') }, want: path.join(dir, 'explicit.sock') },
  ];
  assert.ok(cases[3]!.want.startsWith('/tmp/btfd-') && !cases[3]!.want.startsWith(longDir), 'the long home moves to a hashed dir');
  for (const c of cases) {
    const base = cleanEnv();
    delete base['XDG_RUNTIME_DIR'];
    const r = await run(SHIM, args, { cwd: dir, env: { ...base, ...c.env, ...fake.env(), BTFD_PAHOLE: fake.path, BTFD_SHIM_DEBUG: '1' } });
    const seen = /no daemon socket at (.*)\n|talking to (.*)\n|the daemon at (.*) answered/.exec(r.stderr);
    assert.equal(seen?.[1] ?? seen?.[2] ?? seen?.[3], c.want, `${JSON.stringify(c.env)}: ${r.stderr}`);
  }
  // A server at the hashed long path is found and asked.
  const server = await recordingServer(t, cases[5]!.want);
  t.after(() => fs.rmSync(path.dirname(cases[5]!.want), { recursive: true, force: true }));
  const base = cleanEnv();
  await run(SHIM, args, { cwd: dir, env: { ...base, XDG_RUNTIME_DIR: longDir, ...fake.env(), BTFD_PAHOLE: fake.path } });
  assert.equal(server.requests.length, 1);
});

test('the real pahole is found on PATH, never the shim itself', async (t) => {
  const dir = tempDir(t);
  const fake = createFakePahole(dir);
  const shimBin = path.join(dir, 'shim-bin');
  fs.mkdirSync(shimBin);
  fs.symlinkSync(SHIM, path.join(shimBin, 'pahole'));
  const base = { ...cleanEnv(), ...fake.env({ stdout: 'v9.99\n' }) };
  // Installed as `pahole` first on PATH: it must skip itself and run the next one.
  const viaPath = await run(path.join(shimBin, 'pahole'), ['--version'], { cwd: dir, env: { ...base, PATH: `${shimBin}:${path.dirname(fake.path)}:${base['PATH'] ?? ''}` } });
  assert.deepEqual(viaPath, { status: 0, stdout: 'v9.99\n', stderr: '' });
  // BTFD_PAHOLE naming the shim is ignored rather than looping.
  const selfNamed = await run(SHIM, ['--version'], { cwd: dir, env: { ...base, BTFD_PAHOLE: path.join(shimBin, 'pahole'), PATH: `${shimBin}:${path.dirname(fake.path)}` } });
  assert.equal(selfNamed.stdout, 'v9.99\n');
  assert.equal(fake.calls().length, 2);
  // No pahole at all: a shell's answer.
  const none = await run(path.join(shimBin, 'pahole'), ['--version'], { cwd: dir, env: { ...base, PATH: shimBin } });
  assert.equal(none.status, 127);
  assert.match(none.stderr, /pahole: not found/);
});

test('the real daemon answers module requests with the real pahole', async (t) => {
  const dir = tempDir(t);
  const fake = createFakePahole(dir);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const daemon = await startDaemon(t, path.join(dir, 'h'));
  const env = { ...fake.env({ status: 3, stderr: 'fake pahole must not run\n' }), BTFD_PAHOLE: fake.path, BTFD_HOME: path.join(dir, 'h') };
  const ko = 'lib/fxcrc.ko';
  const module = path.join(kernel.dir, ko);
  const args = ['-J', ...FLAGS, '--btf_base', 'vmlinux', ko];

  // kbuild after a relink: the module has no .BTF yet, and vmlinux is newer than it.
  age(module, 100);
  age(kernel.vmlinux, 50);
  const first = await runShim(args, kernel.dir, { ...env, BTFD_SHIM_DEBUG: '1' });
  assert.deepEqual(first, { status: 0, stdout: '', stderr: `btfd-pahole: ${ko}: regenerated by the daemon\n` });
  assert.deepEqual(fake.calls(), [], 'pahole did not run in the shim');
  assert.ok((await sectionNames(module)).includes('.BTF'));
  const dump = await execFileAsync('bpftool', ['-B', kernel.vmlinux, 'btf', 'dump', 'file', module]);
  assert.match(dump.stdout, /^\[\d+\] FUNC 'fxcrc8' /m);
  // Split BTF: the module's IDs start right after the base's last one.
  const baseDump = await execFileAsync('bpftool', ['btf', 'dump', 'file', kernel.vmlinux], { maxBuffer: 64 * 1024 * 1024 });
  const lastBaseId = Math.max(...[...baseDump.stdout.matchAll(/^\[(\d+)\]/gm)].map((m) => Number(m[1])));
  assert.equal(/^\[(\d+)\]/.exec(dump.stdout)?.[1], String(lastBaseId + 1));
  assert.ok(mtimeMs(module) > mtimeMs(kernel.vmlinux), 'the module ends newer than vmlinux');

  // Same inputs again: fresh, nothing written, but touched so make sees it up to date.
  const digest = sha256(module);
  age(module, 100);
  age(kernel.vmlinux, 50);
  const second = await runShim(args, kernel.dir, { ...env, BTFD_SHIM_DEBUG: '1' });
  assert.deepEqual(second, { status: 0, stdout: '', stderr: `btfd-pahole: ${ko}: fresh by the daemon\n` });
  assert.equal(sha256(module), digest);
  assert.ok(mtimeMs(module) > mtimeMs(kernel.vmlinux), 'fresh: the module still ends newer than vmlinux');

  // What pahole itself would have written, on a pristine copy.
  const pristine = copyModule(kernel, 'drivers/block/fxblk.ko', 'pristine.ko');
  await execFileAsync(REAL_PAHOLE, ['-J', ...FLAGS, '--btf_base', 'vmlinux', pristine], { cwd: kernel.dir, env: cleanEnv() });
  const silent = await runShim(['-J', ...FLAGS, '--btf_base', 'vmlinux', 'drivers/block/fxblk.ko'], kernel.dir, env);
  assert.deepEqual(silent, { status: 0, stdout: '', stderr: '' }, 'without BTFD_SHIM_DEBUG the shim prints nothing');
  assert.deepEqual(await btfOf(path.join(kernel.dir, 'drivers/block/fxblk.ko')), await btfOf(path.join(kernel.dir, pristine)), 'the same BTF as pahole writes');

  // 7.0's detached form: raw BTF in the named file, the module untouched.
  const net = path.join(kernel.dir, 'drivers/net/fxnet/fxnet.ko');
  const netDigest = sha256(net);
  age(net, 100);
  const netMtime = mtimeMs(net);
  const detachedArgs = ['-J', ...FLAGS, '--btf_base', 'vmlinux', '--btf_encode_detached=drivers/net/fxnet/fxnet.BTF.1', 'drivers/net/fxnet/fxnet.ko'];
  assert.deepEqual(await runShim(detachedArgs, kernel.dir, env), { status: 0, stdout: '', stderr: '' });
  const raw = fs.readFileSync(path.join(kernel.dir, 'drivers/net/fxnet/fxnet.BTF.1'));
  assert.deepEqual([...raw.subarray(0, 2)], [0x9f, 0xeb], 'raw BTF magic');
  assert.equal(sha256(net), netDigest);
  assert.equal(mtimeMs(net), netMtime);
  const netCopy = copyModule(kernel, 'drivers/net/fxnet/fxnet.ko', 'netcopy.ko');
  await execFileAsync(REAL_PAHOLE, ['-J', ...FLAGS, '--btf_base', 'vmlinux', '--btf_encode_detached=direct.BTF', netCopy], { cwd: kernel.dir, env: cleanEnv() });
  assert.deepEqual(raw, fs.readFileSync(path.join(kernel.dir, 'direct.BTF')), 'the same bytes as pahole --btf_encode_detached');
  assert.deepEqual(fake.calls(), []);

  // The daemon fails (no DWARF): the shim runs pahole, and pahole's answer is the shim's.
  const noDwarf = copyModule(kernel, 'drivers/char/fxchar.ko', 'nodwarf.ko');
  await execFileAsync('objcopy', ['--strip-debug', path.join(kernel.dir, noDwarf)]);
  const failArgs = ['-J', ...FLAGS, '--btf_base', 'vmlinux', noDwarf];
  const viaFake = await runShim(failArgs, kernel.dir, { ...env, BTFD_SHIM_QUIET: '1' });
  assert.deepEqual(viaFake, { status: 3, stdout: '', stderr: 'fake pahole must not run\n' });
  assert.deepEqual(fake.calls(), [{ cwd: kernel.dir, args: failArgs }]);
  const why = await runShim(failArgs, kernel.dir, { ...env, BTFD_SHIM_DEBUG: '1' });
  assert.match(why.stderr, /^btfd-pahole: running pahole: the daemon at .* answered HTTP [45]\d\d: \{.*"code":"BTFD_ERR_[A-Z_]+"/);
  const noDwarf2 = copyModule(kernel, 'drivers/char/fxchar.ko', 'nodwarf2.ko');
  await execFileAsync('objcopy', ['--strip-debug', path.join(kernel.dir, noDwarf2)]);
  const direct = await run(REAL_PAHOLE, ['-J', ...FLAGS, '--btf_base', 'vmlinux', noDwarf2], { cwd: kernel.dir, env: cleanEnv() });
  const viaReal = await runShim(failArgs, kernel.dir, { ...env, BTFD_PAHOLE: REAL_PAHOLE, BTFD_SHIM_QUIET: '1' });
  assert.notEqual(direct.status, 0);
  assert.deepEqual(viaReal, { ...direct, stderr: direct.stderr.replaceAll(noDwarf2, noDwarf) }, "pahole's own exit status and stderr");
  assert.equal(daemon.child.exitCode, null, 'the daemon is still up');
});

test('without a daemon the shim runs the real pahole itself', async (t) => {
  const dir = tempDir(t);
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const fake = createFakePahole(dir);
  const expected = copyModule(kernel, 'lib/fxcrc.ko', 'expected.ko');
  await execFileAsync(REAL_PAHOLE, ['-J', ...FLAGS, '--btf_base', 'vmlinux', expected], { cwd: kernel.dir, env: cleanEnv() });
  const expectedBtf = await btfOf(path.join(kernel.dir, expected));

  const home = path.join(dir, 'h');
  const daemon = await startDaemon(t, home);
  await daemon.stop('SIGKILL');
  assert.ok(fs.existsSync(daemon.socketPath), 'a killed daemon leaves its socket behind');
  const notASocket = path.join(dir, 'plain-file');
  fs.writeFileSync(notASocket, '');
  const ways: Array<[string, Record<string, string>]> = [
    ['socket absent', { BTFD_HOME: path.join(dir, 'empty-home') }],
    ['stale socket of a killed daemon', { BTFD_HOME: home }],
    ['BTFD_SOCKET is not a socket', { BTFD_SOCKET: notASocket }],
  ];
  for (const [label, env] of ways) {
    const ko = copyModule(kernel, 'lib/fxcrc.ko', `${label.replaceAll(' ', '-')}.ko`);
    const r = await runShim(['-J', ...FLAGS, '--btf_base', 'vmlinux', ko], kernel.dir, { ...env, BTFD_PAHOLE: REAL_PAHOLE });
    assert.equal(r.status, 0, label);
    assert.match(r.stderr, /^btfd-pahole: running pahole: (no daemon socket at|curl failed)/, `${label}: the fallback says why`);
    assert.deepEqual(await btfOf(path.join(kernel.dir, ko)), expectedBtf, `${label}: pahole's BTF`);

    // A failing pahole fails the same way through the shim.
    fake.reset();
    const failing = await runShim(['-J', ...FLAGS, '--btf_base', 'vmlinux', ko], kernel.dir, {
      ...env, ...fake.env({ status: 3, stderr: 'pahole: out of memory\n' }), BTFD_PAHOLE: fake.path, BTFD_SHIM_QUIET: '1',
    });
    assert.deepEqual(failing, { status: 3, stdout: '', stderr: 'pahole: out of memory\n' }, label);
    assert.deepEqual(fake.calls(), [{ cwd: kernel.dir, args: ['-J', ...FLAGS, '--btf_base', 'vmlinux', ko] }]);
  }
});
