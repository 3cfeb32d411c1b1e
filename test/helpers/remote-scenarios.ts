/**
 * The remote tier's scenarios, against a real server the test starts on 127.0.0.1 — Debian's
 * nginx with WebDAV PUT (the bazel-remote HTTP layout) or Debian's redis-server — with the real
 * engine, pahole, store and worker pool: a team of homes on one machine shares work; corrupt,
 * poisoned, dead, hung, read-only and salted remotes never cost a wrong module or a stalled
 * build. test/integration/remote-http.test.ts and remote-redis.test.ts run them, one file per
 * server so that the runner runs the two side by side.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import type { BuildReport, CacheTierName, CacheTierStats } from '../../shared/build-types.js';
import { resolveConfig, type RemoteCacheConfig } from '../../shared/config.js';
import { createFixtureKernel, fixturePahole, type FixtureKernel } from '../fixtures/fixture-kernel.js';
import { tempDir, testEngine } from './engine-harness.js';
import { sha256, startRemote, type RemoteKind, type RemoteServer } from './remote-servers.js';

/** The remote settings as a user gives them, resolved by the real config code. */
export function remoteConfig(server: RemoteServer, env: Record<string, string> = {}): RemoteCacheConfig {
  const config = resolveConfig({ env: { BTFD_REMOTE_CACHE: server.url, ...env }, file: null });
  assert.ok(config.remote);
  return config.remote;
}

/**
 * A pahole that logs each encoding it runs, then runs the real one. Every home of a test uses this
 * same file, so they share pahole's identity (and so their keys); the log shows who ran pahole.
 */
export function countingPahole(dir: string): { path: string; encodes: () => number; reset: () => void } {
  const script = path.join(dir, 'pahole');
  const log = path.join(dir, 'encodes.log');
  fs.writeFileSync(script, `#!/bin/sh\n[ "$1" = --version ] || echo "$*" >> '${log}'\nexec '${fixturePahole()}' "$@"\n`, { mode: 0o755 });
  fs.writeFileSync(log, '');
  return {
    path: script,
    encodes: () => fs.readFileSync(log, 'utf8').split('\n').filter((line) => line.includes('-J')).length,
    reset: () => fs.writeFileSync(log, ''),
  };
}

export interface Team {
  readonly dir: string;
  readonly pahole: ReturnType<typeof countingPahole>;
  /** A fresh copy of the same fixture kernel (same bytes: a second developer's checkout). */
  kernel(name: string): Promise<FixtureKernel>;
}

export async function team(t: TestContext): Promise<Team> {
  const dir = tempDir(t, 'btfd-team-');
  const pahole = countingPahole(dir);
  return { dir, pahole, kernel: (name) => createFixtureKernel(path.join(dir, name)) };
}

/** A home (cache dir) of the team, with this remote; closed (uploads drained) after the test or by the caller. */
export function home(t: TestContext, crew: Team, remoteCache: RemoteCacheConfig | null, hooks: Parameters<typeof testEngine>[2] = {}) {
  return testEngine(t, { pahole: crew.pahole.path, remoteCache }, hooks);
}

export function outcomes(report: BuildReport): [number, number, number, number] {
  return [report.fresh, report.restored, report.regenerated, report.failed];
}

/** A home's figures for a tier (read before the home is closed). */
export function tier(h: ReturnType<typeof home>, name: CacheTierName): CacheTierStats {
  const found = h.store.stats(1 << 30, h.remote?.status() ?? null).tiers.find((t) => t.tier === name);
  assert.ok(found, `no ${name} tier figures`);
  return found;
}

/** Home A builds the tree cold and uploads everything; returns its kernel and report. */
export async function fillRemote(t: TestContext, crew: Team, remote: RemoteCacheConfig): Promise<{ kernel: FixtureKernel; report: BuildReport }> {
  const kernel = await crew.kernel('a');
  const a = home(t, crew, remote);
  const report = await a.engine.build({ dir: kernel.dir });
  assert.deepEqual(outcomes(report), [0, 0, kernel.modules.length, 0], JSON.stringify(report.failures));
  await a.engine.close();
  assert.equal(a.remote!.status().uploads.done, kernel.modules.length, 'every new artifact was uploaded');
  return { kernel, report };
}

/** Define every scenario as a test for a server of `kind`. */
export function defineRemoteScenarios(kind: RemoteKind): void {
  test(`${kind}: a second home with an empty cache restores the whole tree from the remote without running pahole`, async (t) => {
    const server = await startRemote(t, kind);
    const crew = await team(t);
    const remote = remoteConfig(server);
    const { kernel: a } = await fillRemote(t, crew, remote);
    const n = a.modules.length;
    assert.equal((await server.list('cas')).length, n);
    assert.equal((await server.list('ac')).length, n);

    crew.pahole.reset();
    const b = await crew.kernel('b');
    const homeB = home(t, crew, remote);
    const report = await homeB.engine.build({ dir: b.dir });
    assert.deepEqual(outcomes(report), [0, n, 0, 0], JSON.stringify(report.failures));
    assert.equal(crew.pahole.encodes(), 0, 'home B never ran pahole');
    assert.ok(report.results.every((r) => r.reason.startsWith('cached remotely')), 'each restore says it came from the remote');
    for (const [i, module] of b.modules.entries()) assert.deepEqual(fs.readFileSync(module), fs.readFileSync(a.modules[i]!), `${module} is byte for byte home A's`);
    assert.equal(tier(homeB, 'remote').hits, n);
    assert.equal(tier(homeB, 'local').misses, n, 'each was a local miss first');
    assert.ok(tier(homeB, 'remote').bytesRead > 0 && tier(homeB, 'local').bytesWritten > 0);

    // Written back: the next build finds everything locally, and explain says so.
    assert.equal((await homeB.engine.explain(b.modules[0]!)).tier, 'local');
    const again = await homeB.engine.build({ dir: b.dir });
    assert.deepEqual(outcomes(again), [n, 0, 0, 0]);

    // A third home only looking: explain names the remote tier and counts nothing.
    const c = await crew.kernel('c');
    const homeC = home(t, crew, remote);
    const explained = await homeC.engine.explain(c.modules[0]!);
    assert.deepEqual([explained.verdict, explained.cached, explained.tier], ['restore', true, 'remote']);
    assert.deepEqual([tier(homeC, 'remote').hits, tier(homeC, 'remote').misses, tier(homeC, 'local').misses], [0, 0, 0], 'explain counts nothing');
  });

  test(`${kind}: a corrupted remote blob is caught, counted, regenerated, and the upload repairs it`, async (t) => {
    const server = await startRemote(t, kind);
    const crew = await team(t);
    const remote = remoteConfig(server);
    const { kernel: a } = await fillRemote(t, crew, remote);
    const n = a.modules.length;
    const victim = (await server.list('cas'))[0]!;
    const good = (await server.read('cas', victim))!;
    const bad = Buffer.from(good);
    bad.writeUInt8(bad.readUInt8(bad.length >> 1) ^ 0xff, bad.length >> 1);
    await server.write('cas', victim, bad);

    crew.pahole.reset();
    const b = await crew.kernel('b');
    const homeB = home(t, crew, remote);
    const report = await homeB.engine.build({ dir: b.dir });
    assert.deepEqual(outcomes(report), [0, n - 1, 1, 0], JSON.stringify(report.failures));
    assert.equal(crew.pahole.encodes(), 1, 'pahole ran for the corrupt one only');
    for (const [i, module] of b.modules.entries()) assert.deepEqual(fs.readFileSync(module), fs.readFileSync(a.modules[i]!));
    assert.equal(tier(homeB, 'remote').corrupt, 1, 'counted');
    await homeB.engine.close();
    assert.equal(sha256((await server.read('cas', victim))!), victim, 'home B re-uploaded the blob it regenerated');
  });

  test(`${kind}: an entry naming another module's artifact is refused before install and never kept`, async (t) => {
    const server = await startRemote(t, kind);
    const crew = await team(t);
    const remote = remoteConfig(server);
    const { kernel: a } = await fillRemote(t, crew, remote);
    const n = a.modules.length;
    // Point every entry at the first one's artifact: blobs and digests are all genuine, only the
    // mapping lies — what a poisoned (or buggy) writer could do.
    const entries = await server.list('ac');
    const first = (await server.read('ac', entries[0]!))!;
    for (const key of entries.slice(1)) await server.write('ac', key, first);

    crew.pahole.reset();
    const b = await crew.kernel('b');
    const homeB = home(t, crew, remote);
    const report = await homeB.engine.build({ dir: b.dir });
    assert.deepEqual(outcomes(report), [0, 1, n - 1, 0], JSON.stringify(report.failures));
    for (const [i, module] of b.modules.entries()) assert.deepEqual(fs.readFileSync(module), fs.readFileSync(a.modules[i]!), 'nothing of another module was installed');
    assert.equal(tier(homeB, 'remote').corrupt, n - 1);
    assert.equal(homeB.store.artifacts.totals().entries, n, 'only the genuine hit and the regenerated artifacts are kept locally');
  });

  test(`${kind}: the server killed mid-build: the build completes locally and the breaker opens`, async (t) => {
    const server = await startRemote(t, kind);
    const crew = await team(t);
    const kernel = await crew.kernel('a');
    let killed = false;
    const a = home(t, crew, remoteConfig(server), {
      beforeRegenerate: async () => {
        if (killed) return;
        killed = true;
        await server.kill();
      },
    });
    const report = await a.engine.build({ dir: kernel.dir });
    assert.deepEqual(outcomes(report), [0, 0, kernel.modules.length, 0], JSON.stringify(report.failures));
    // Wait for the uploads to fail (each within the timeout), as shutdown would.
    await a.remote!.drain(10_000);
    const status = a.remote!.status();
    assert.equal(status.breaker.state, 'open', JSON.stringify(status));
    assert.match(status.breaker.lastError?.code ?? '', /^BTFD_ERR_REMOTE_(UNREACHABLE|TIMEOUT)$/);
    assert.equal(status.uploads.done, 0);
    assert.ok(tier(a, 'remote').errors >= 1);
  });

  test(`${kind}: a hung server stalls a build by no more than its timeout`, async (t) => {
    const server = await startRemote(t, kind);
    const crew = await team(t);
    await fillRemote(t, crew, remoteConfig(server));
    // What the same build costs without any remote, on this (noisy) machine, just now.
    const local = await home(t, crew, null).engine.build({ dir: (await crew.kernel('local')).dir });

    server.pause();
    t.after(() => server.resume());
    const timeoutMs = 500;
    const b = await crew.kernel('b');
    const homeB = home(t, crew, remoteConfig(server, { BTFD_REMOTE_TIMEOUT_MS: String(timeoutMs) }));
    const report = await homeB.engine.build({ dir: b.dir });
    assert.deepEqual(outcomes(report), [0, 0, b.modules.length, 0], JSON.stringify(report.failures));
    // The lookups run concurrently, so a hung server costs about one timeout; allow two and noise.
    assert.ok(report.seconds < local.seconds + (2 * timeoutMs) / 1000 + 1.5, `with a hung remote ${report.seconds}s, local only ${local.seconds}s`);
    const status = homeB.remote!.status();
    assert.equal(status.breaker.state, 'open');
    assert.equal(status.breaker.lastError?.code, 'BTFD_ERR_REMOTE_TIMEOUT');
    const closing = Date.now();
    await homeB.engine.close();
    assert.ok(Date.now() - closing < 10_000 + 2 * timeoutMs, 'closing (draining uploads) is bounded too');
  });

  test(`${kind}: read-only mode reads from the remote and never writes to it`, async (t) => {
    const server = await startRemote(t, kind);
    const crew = await team(t);
    const readOnly = remoteConfig(server, { BTFD_REMOTE_READONLY: '1' });

    const r1 = home(t, crew, readOnly);
    const cold = await r1.engine.build({ dir: (await crew.kernel('r1')).dir });
    assert.equal(cold.regenerated, cold.modules);
    await r1.engine.close();
    assert.deepEqual([await server.writes(), (await server.list('ac')).length, (await server.list('cas')).length], [0, 0, 0], 'a read-only home wrote nothing');
    assert.equal(r1.remote!.status().readOnly, true);

    await fillRemote(t, crew, remoteConfig(server));
    const writes = await server.writes();
    const r2 = home(t, crew, readOnly);
    const warm = await r2.engine.build({ dir: (await crew.kernel('r2')).dir });
    assert.equal(warm.restored, warm.modules, 'it reads what others wrote');
    await r2.engine.close();
    assert.equal(await server.writes(), writes, 'and still writes nothing');
  });

  test(`${kind}: the salt isolates: another salt sees nothing, the same salt sees everything`, async (t) => {
    const server = await startRemote(t, kind);
    const crew = await team(t);
    const { kernel } = await fillRemote(t, crew, remoteConfig(server, { BTFD_REMOTE_SALT: 'team-a' }));
    const n = kernel.modules.length;
    const other = await home(t, crew, remoteConfig(server, { BTFD_REMOTE_SALT: 'team-b' })).engine.build({ dir: (await crew.kernel('b')).dir });
    assert.deepEqual(outcomes(other), [0, 0, n, 0], 'team-b restores nothing of team-a');
    const unsalted = await home(t, crew, remoteConfig(server)).engine.build({ dir: (await crew.kernel('c')).dir });
    assert.equal(unsalted.restored, 0, 'nor does a home without a salt');
    const same = await home(t, crew, remoteConfig(server, { BTFD_REMOTE_SALT: 'team-a' })).engine.build({ dir: (await crew.kernel('d')).dir });
    assert.deepEqual(outcomes(same), [0, n, 0, 0]);
  });
}

