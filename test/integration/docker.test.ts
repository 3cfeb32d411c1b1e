/**
 * docker/ without a container engine (none runs on these machines): the wrapper gives compose
 * what the compose file needs (uid, gid, real paths, a home created as the user), the compose file
 * mounts the home and the tree at the host's own paths, and the one-daemon rule holds across
 * namespaces: a daemon in another mount and network namespace, sharing the cache dir through a
 * bind mount as a container does, is refused.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { requestHello } from '../../client/daemon-client.js';
import { resolveConfig } from '../../shared/config.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const DOCKER = path.join(REPO, 'docker');
const DAEMON_MAIN = path.join(REPO, 'dist', 'daemon', 'main.js');

test('btfd-compose gives compose the uid, gid, real paths and a home it created as the user', (t) => {
  const dir = fs.mkdtempSync('/tmp/btfd-d-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  // A stand-in for docker that records what it was given.
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  const record = path.join(dir, 'docker-call');
  fs.writeFileSync(path.join(bin, 'docker'), `#!/bin/sh\n{ printf '%s\\n' "$*"; env | grep -E '^(BTFD_|KERNEL_TREE=)' | sort; } > ${record}\n`, { mode: 0o755 });
  const tree = path.join(dir, 'linux');
  fs.mkdirSync(tree);
  fs.symlinkSync(tree, path.join(dir, 'tree-link'));
  const env = { PATH: `${bin}:/usr/bin:/bin`, HOME: dir, KERNEL_TREE: path.join(dir, 'tree-link') };

  const r = spawnSync(path.join(DOCKER, 'btfd-compose'), ['up', '-d'], { env, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const [args, ...vars] = fs.readFileSync(record, 'utf8').trim().split('\n');
  assert.equal(args, `compose -f ${DOCKER}/compose.yaml up -d`);
  const home = path.join(dir, '.btfd-docker');
  assert.deepEqual(vars, [`BTFD_GID=${process.getgid!()}`, `BTFD_HOME=${home}`, `BTFD_UID=${process.getuid!()}`, `KERNEL_TREE=${tree}`]);
  const stat = fs.statSync(home);
  assert.equal(stat.mode & 0o777, 0o700);
  assert.equal(stat.uid, process.getuid!(), 'the home is the user\'s, not root\'s');

  const missing = spawnSync(path.join(DOCKER, 'btfd-compose'), ['up'], { env: { ...env, KERNEL_TREE: '' }, encoding: 'utf8' });
  assert.notEqual(missing.status, 0);
  assert.match(missing.stderr, /KERNEL_TREE/);
});

test('compose mounts the home and the tree at the host paths and runs the daemon in the foreground as the user', () => {
  const compose = fs.readFileSync(path.join(DOCKER, 'compose.yaml'), 'utf8');
  assert.match(compose, /^ {4}user: "\$\{BTFD_UID:\?[^}]*\}:\$\{BTFD_GID:\?[^}]*\}"$/m);
  assert.match(compose, /^ {6}- "\$\{BTFD_HOME\}:\$\{BTFD_HOME\}"$/m);
  assert.match(compose, /^ {6}- "\$\{KERNEL_TREE:\?[^}]*\}:\$\{KERNEL_TREE\}"$/m);
  assert.match(compose, /^ {6}BTFD_HOME: "\$\{BTFD_HOME:\?[^}]*\}"$/m);
  assert.doesNotMatch(compose, /\/src|\$\{UID|\$\{GID/, 'no container-only paths, no unexported shell variables');
  const dockerfile = fs.readFileSync(path.join(DOCKER, 'Dockerfile'), 'utf8');
  assert.match(dockerfile, /^CMD \["start", "--foreground"\]$/m, 'the foreground daemon logs to stdout: docker logs');
  assert.doesNotMatch(dockerfile, /^VOLUME|^ENV BTFD_HOME/m, 'the home is the host path compose passes');
});

/** Spawn a daemon; `exited` resolves with its exit code and stderr. */
function spawnDaemon(t: TestContext, command: string, args: string[], env: NodeJS.ProcessEnv): { pid: number; exited: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) => child.once('exit', (code) => resolve({ code, stderr })));
  t.after(async () => {
    child.kill('SIGKILL');
    await exited;
  });
  return { pid: child.pid!, exited };
}

/** Wait (bounded) until a daemon answers on `socketPath`. */
async function answers(socketPath: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if ((await requestHello(socketPath, 1000).catch(() => null)) !== null) return;
    await sleep(50);
  }
  assert.fail(`no daemon answered on ${socketPath}`);
}

const CLEAN_ENV = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('BTFD_') && !key.startsWith('XDG_')));

test('one daemon per cache dir: a daemon of another socket on the same cache is refused', { timeout: 60_000 }, async (t) => {
  const dir = fs.mkdtempSync('/tmp/btfd-n-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const xdg = (n: number): NodeJS.ProcessEnv => ({
    ...CLEAN_ENV, HOME: dir, XDG_RUNTIME_DIR: path.join(dir, `run${n}`), XDG_STATE_HOME: path.join(dir, `state${n}`), XDG_CACHE_HOME: path.join(dir, 'cache'),
  });
  spawnDaemon(t, process.execPath, [DAEMON_MAIN], xdg(1));
  await answers(resolveConfig({ env: xdg(1) }).socketPath);
  const second = spawnDaemon(t, process.execPath, [DAEMON_MAIN], xdg(2));
  const { code, stderr } = await second.exited;
  assert.equal(code, 3, stderr);
  assert.match(stderr, /BTFD_ERR_DAEMON_ALREADY_RUNNING: another btfd daemon uses the cache dir/);
});

test('one daemon per cache dir across namespaces: a container-like daemon on a bind mount of the cache is refused', { timeout: 60_000 }, async (t) => {
  const unshare = spawnSync('unshare', ['--mount', '--net', 'true']);
  if (process.getuid?.() !== 0 || unshare.status !== 0) {
    t.skip('needs root and unshare(1) to make a mount and network namespace');
    return;
  }
  const dir = fs.mkdtempSync('/tmp/btfd-n-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const hostHome = path.join(dir, 'host');
  spawnDaemon(t, process.execPath, [DAEMON_MAIN], { ...CLEAN_ENV, BTFD_HOME: hostHome });
  await answers(resolveConfig({ env: { BTFD_HOME: hostHome } }).socketPath);
  // The "container": its own network (so its own abstract sockets) and mounts, its own home at
  // another path, whose cache dir is the host's through a bind mount.
  const containerHome = path.join(dir, 'container');
  fs.mkdirSync(path.join(containerHome, 'cache'), { recursive: true, mode: 0o700 });
  fs.chmodSync(containerHome, 0o700);
  const script = `mount --bind "$1" "$2" && exec "$3" "$4"`;
  const container = spawnDaemon(t, 'unshare', ['--mount', '--net', 'sh', '-c', script, 'sh', path.join(hostHome, 'cache'), path.join(containerHome, 'cache'), process.execPath, DAEMON_MAIN],
    { ...CLEAN_ENV, BTFD_HOME: containerHome });
  const { code, stderr } = await container.exited;
  assert.equal(code, 3, stderr);
  assert.match(stderr, /BTFD_ERR_DAEMON_ALREADY_RUNNING: another btfd daemon uses the cache dir/);
});
