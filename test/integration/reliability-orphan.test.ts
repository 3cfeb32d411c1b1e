/**
 * A daemon whose home or socket is removed exits by itself: it can never be reached again, and
 * before home-guard.ts a watched tree kept such daemons running forever (leaked by tests that
 * rm -rf'd their temp home).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { waitForExit } from '../../client/connect.js';
import { HOME_CHECK_INTERVAL_MS } from '../../daemon/server/home-guard.js';
import { createFixtureKernel, fixturePahole } from '../fixtures/fixture-kernel.js';
import { pidAlive, startDaemonHome } from '../helpers/daemon-home.js';

/** The check period plus a teardown. */
const EXIT_WITHIN_MS = HOME_CHECK_INTERVAL_MS * 2 + 5000;

test('a daemon watching a tree exits once its home is rm -rf\'d', { timeout: 120_000 }, async (t) => {
  const dir = fs.mkdtempSync('/tmp/btfd-orphan-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const daemon = await startDaemonHome(t, path.join(dir, 'h'), { flags: { pahole: fixturePahole(), workers: 1 } });
  // A watched tree holds the idle timer: only the guard can end this daemon.
  await daemon.client.watch({ dir: kernel.dir });
  assert.ok((await daemon.client.status()).idleTimeoutMs === 0, 'idle exit is held by the watch');
  fs.rmSync(daemon.home, { recursive: true, force: true });
  const started = Date.now();
  assert.ok(await waitForExit(daemon.pid, EXIT_WITHIN_MS), 'the daemon exited');
  assert.ok(Date.now() - started < EXIT_WITHIN_MS);
  assert.equal(pidAlive(daemon.pid), false);
});

test('a daemon exits once its socket file is unlinked, and logs why', { timeout: 60_000 }, async (t) => {
  const dir = fs.mkdtempSync('/tmp/btfd-orphan-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const daemon = await startDaemonHome(t, path.join(dir, 'h'), { flags: { pahole: fixturePahole(), workers: 1, idleTimeoutMs: 0 } });
  fs.unlinkSync(daemon.config.socketPath);
  assert.ok(await waitForExit(daemon.pid, EXIT_WITHIN_MS), 'the daemon exited');
  const lines = daemon.logLines();
  assert.ok(lines.some((line) => line['msg'] === 'socket or home removed: this daemon can no longer be reached, stopping'));
  assert.ok(lines.some((line) => line['msg'] === 'shutdown complete' && String(line['reason']).startsWith('orphaned: socket')));
});
