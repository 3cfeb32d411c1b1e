/**
 * Watch mode through the real daemon, driven by the real CLI, observed through the real SSE
 * stream and /metrics: all-fresh, restore after a relink, nothing on `touch vmlinux`, every module
 * relocated or regenerated on a base type change, and a SIGKILLed daemon replaced with its state
 * intact.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm, stat, utimes } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitForExit } from '../../client/connect.js';
import { resolveConfig } from '../../shared/config.js';
import { createFixtureKernel, writeVmlinuxVariant } from '../fixtures/fixture-kernel.js';
import { runCli } from '../helpers/cli-harness.js';

interface SseEvent {
  readonly type: string;
  readonly data: Record<string, unknown>;
  readonly atMs: number;
}

/** Subscribe to /v1/events; events accumulate in the returned array until close(). */
function subscribe(socketPath: string): { events: SseEvent[]; ready: Promise<void>; close(): void } {
  const events: SseEvent[] = [];
  let buffer = '';
  let request!: http.ClientRequest;
  const ready = new Promise<void>((resolve, reject) => {
    request = http.get({ socketPath, path: '/v1/events' }, (response) => {
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const type = /^event: (.+)$/m.exec(block)?.[1];
          const data = /^data: (.+)$/m.exec(block)?.[1];
          if (type && data) events.push({ type, data: JSON.parse(data) as Record<string, unknown>, atMs: Date.now() });
        }
      });
      resolve();
    });
    request.on('error', reject);
  });
  return { events, ready, close: () => request.destroy() };
}

function get(socketPath: string, url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ socketPath, path: url }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

async function waitFor<T>(what: string, check: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() - started > timeoutMs) assert.fail(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

const builds = (events: SseEvent[]) => events.filter((e) => e.type === 'build-finished').map((e) => e.data.report as Record<string, number>);

test('the daemon keeps a watched tree current and survives SIGKILL with its state', async (t) => {
  const dir = await mkdtemp('/tmp/btfd-w-');
  const env: Record<string, string> = { BTFD_HOME: path.join(dir, 'h') };
  const config = resolveConfig({ env });
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const pristine = await createFixtureKernel(path.join(dir, 'p'));
  const n = kernel.modules.length;
  const pids = new Set<number>();
  t.after(async () => {
    await runCli(['stop'], env);
    for (const pid of pids) await waitForExit(pid, 10_000);
    await rm(dir, { recursive: true, force: true });
  });

  const watched = await runCli(['watch', kernel.dir, '--json'], env);
  assert.equal(watched.code, 0, watched.stderr);
  assert.equal(JSON.parse(watched.stdout).dir, kernel.dir);
  const sse = subscribe(config.socketPath);
  t.after(() => sse.close());
  await sse.ready;

  const statusJson = async () => JSON.parse((await runCli(['status', '--json'], env)).stdout) as Record<string, any>;
  let status = await statusJson();
  pids.add(status.pid);
  // The tree reaches all-fresh: its reconcile build regenerates, the pass after the watcher's scan finds all fresh.
  for (let i = 0; i < 200 && !(status.trees[0]?.lastPass?.fresh === n && !status.trees[0].building); i++) {
    await sleep(50);
    status = await statusJson();
  }
  // The all-fresh pass does not hide what the reconcile did.
  assert.deepEqual(status.modules, { regenerated: n });
  assert.equal(status.trees[0].lastBuild.regenerated, n);
  assert.ok(status.cache.entries >= n && status.cache.misses >= n, 'every module was generated once');

  // A relinked module (no .BTF) is restored within 2 s of the write settling.
  const beforeRelink = sse.events.length;
  await copyFile(pristine.modules[2]!, kernel.modules[2]!);
  const wroteAt = Date.now();
  const restore = await waitFor('restore', () => builds(sse.events.slice(beforeRelink)).find((r) => r.restored === 1));
  const finishedAt = sse.events.slice(beforeRelink).find((e) => e.type === 'build-finished')!.atMs;
  assert.equal(restore.modules, 1);
  assert.ok(finishedAt - wroteAt < 2000 + 250, `restored ${finishedAt - wroteAt} ms after the write`);

  // touch vmlinux: nothing is written, nothing is even planned.
  const mtimes = await Promise.all(kernel.modules.map(async (m) => (await stat(m)).mtimeMs));
  const buildsBefore = sse.events.filter((e) => e.type === 'build-started').length;
  const later = new Date(Date.now() + 2000);
  const seenBefore = sse.events.length;
  await utimes(kernel.vmlinux, later, later);
  const touchSeen = await waitFor('the touch to be looked at', () => sse.events.slice(seenBefore).find((e) => e.type === 'change-seen'));
  assert.equal((touchSeen.data as { work: boolean }).work, false, 'touch vmlinux asked for no work');
  assert.equal(sse.events.filter((e) => e.type === 'build-started').length, buildsBefore, 'touch vmlinux started no build');
  assert.deepEqual(await Promise.all(kernel.modules.map(async (m) => (await stat(m)).mtimeMs)), mtimes, 'touch vmlinux wrote nothing');

  // A base type change rebuilds every module of the tree: relocated where no type it uses
  // changed, regenerated where one did.
  const seen = sse.events.length;
  await writeVmlinuxVariant(kernel, 'typechange');
  const rebuilt = await waitFor('type change', () => builds(sse.events.slice(seen)).find((r) => r.relocated! + r.regenerated! === n), 20_000);
  assert.equal(rebuilt.failed, 0);
  assert.ok(rebuilt.relocated! > 0 && rebuilt.regenerated! > 0, JSON.stringify(rebuilt));
  assert.ok(sse.events.slice(seen).some((e) => e.type === 'base-changed'));

  const metrics = await get(config.socketPath, '/metrics');
  assert.match(metrics, /^btfd_watched_trees 1$/m);
  assert.match(metrics, /^btfd_cache_entries \d+$/m);
  assert.match(metrics, /^btfd_modules\{outcome="regenerated"\} \d+$/m);
  assert.match(metrics, /^btfd_modules\{outcome="relocated"\} [1-9]\d*$/m);

  // SIGKILL: the next client call starts a new daemon; registrations and cache are intact.
  sse.close();
  const oldPid = status.pid as number;
  process.kill(oldPid, 'SIGKILL');
  await waitForExit(oldPid, 5000);
  assert.equal((await runCli(['status', '--json'], env)).code, 3, 'status does not start a daemon');
  const modules = await runCli(['modules', kernel.dir, '--json'], env);
  assert.equal(modules.code, 0, modules.stderr);
  assert.equal(JSON.parse(modules.stdout).modules.length, n);
  status = await statusJson();
  pids.add(status.pid);
  assert.notEqual(status.pid, oldPid);
  assert.deepEqual(status.trees.map((tree: { dir: string }) => tree.dir), [kernel.dir], 'the watch registration survived');
  for (let i = 0; i < 200 && (status.warming || status.trees[0]?.lastPass === null); i++) {
    await sleep(50);
    status = await statusJson();
  }
  assert.equal(status.trees[0].lastPass.fresh, n, 'after the restart every module is fresh');
  const last = status.trees[0].lastBuild;
  assert.deepEqual([last.trigger, last.relocated + last.regenerated], ['base BTF changed', n], 'and the last build that did something is still the type change');

  const unwatched = await runCli(['unwatch', kernel.dir], env);
  assert.equal(unwatched.code, 0);
  assert.deepEqual((await statusJson()).trees, []);
});
