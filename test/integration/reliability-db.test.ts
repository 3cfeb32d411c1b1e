/**
 * A corrupt cache database under a real daemon: truncated while the daemon is stopped (found by
 * the quick check at start), and truncated under the running daemon with its WAL kept (found by
 * the first call that reads a missing page). Either way builds succeed, the bad file is kept
 * beside the fresh one, and status and the log say what happened.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { waitForExit } from '../../client/connect.js';
import { createFixtureKernel, fixturePahole } from '../fixtures/fixture-kernel.js';
import { startDaemonHome } from '../helpers/daemon-home.js';

function truncateHalf(file: string): void {
  fs.truncateSync(file, Math.floor(fs.statSync(file).size / 2));
}

function corruptCopies(cacheDir: string): string[] {
  return fs.readdirSync(cacheDir).filter((name) => /^cache\.db\.corrupt-[^-]/.test(name) && !name.endsWith('-wal') && !name.endsWith('-shm'));
}

test('a cache.db truncated while the daemon was stopped is moved aside at start; builds succeed', { timeout: 180_000 }, async (t) => {
  const dir = fs.mkdtempSync('/tmp/btfd-db-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const flags = { pahole: fixturePahole(), workers: 2 };
  const first = await startDaemonHome(t, path.join(dir, 'h'), { flags });
  const cold = await first.client.build({ dir: kernel.dir });
  assert.equal(cold.failed, 0);
  await first.client.stop();
  await waitForExit(first.pid, 10_000);
  const dbFile = path.join(first.config.cacheDir, 'cache.db');
  truncateHalf(dbFile);

  const second = await startDaemonHome(t, path.join(dir, 'h'), { flags });
  fs.appendFileSync(kernel.modules[0]!, Buffer.from('changed'));
  const report = await second.client.build({ dir: kernel.dir });
  assert.equal(report.failed, 0, JSON.stringify(report.failures));
  const status = await second.client.status();
  assert.equal(status.health.storeRecovery?.code, 'BTFD_ERR_CACHE_DB_CORRUPT');
  assert.ok(fs.existsSync(status.health.storeRecovery.movedTo));
  assert.equal(corruptCopies(second.config.cacheDir).length, 1);
  assert.ok(second.logLines().some((line) => line['msg'] === 'cache database corrupt: moved aside, started a fresh one'));
});

test('a cache.db truncated under the running daemon (WAL kept) is recovered at the next build; installs report success', { timeout: 180_000 }, async (t) => {
  const dir = fs.mkdtempSync('/tmp/btfd-db-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const daemon = await startDaemonHome(t, path.join(dir, 'h'), { flags: { pahole: fixturePahole(), workers: 2 } });
  assert.equal((await daemon.client.build({ dir: kernel.dir })).failed, 0);
  const dbFile = path.join(daemon.config.cacheDir, 'cache.db');
  // Move the daemon's commits into cache.db (as its own checkpoints do), then damage that file.
  const other = new Database(dbFile);
  other.pragma('wal_checkpoint(TRUNCATE)');
  other.close();
  truncateHalf(dbFile);

  for (const module of kernel.modules) fs.appendFileSync(module, Buffer.from('changed'));
  const report = await daemon.client.build({ dir: kernel.dir });
  assert.equal(report.failed, 0, JSON.stringify(report.failures));
  assert.equal(report.regenerated + report.restored + report.relocated, kernel.modules.length);
  const status = await daemon.client.status();
  assert.equal(status.health.storeRecovery?.code, 'BTFD_ERR_CACHE_DB_CORRUPT');
  // The cache works on the fresh database: a second build finds everything fresh.
  const warm = await daemon.client.build({ dir: kernel.dir });
  assert.equal(warm.fresh, kernel.modules.length);
});
