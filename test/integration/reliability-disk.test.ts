/**
 * A full disk under BTFD_HOME, for real: BTFD_HOME on a small tmpfs (mount needs root; the test
 * skips otherwise), filled to the last byte while the daemon runs. The daemon must keep
 * answering, count the log lines it could not write, answer build failures with the catalog's
 * BTFD_ERR_FS_NO_SPACE, and log again (saying how many lines it lost) once space is back.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { BtfdError } from '../../shared/errors.js';
import { createFixtureKernel, fixturePahole } from '../fixtures/fixture-kernel.js';
import { pidAlive, startDaemonHome } from '../helpers/daemon-home.js';

const IS_ROOT = process.getuid?.() === 0;
const TMPFS_SIZE = '8m';

/** Fill the file system under `dir` until a write fails with ENOSPC. */
function fillDisk(file: string): void {
  const fd = fs.openSync(file, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) fs.writeSync(fd, chunk);
  } catch (err) {
    assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
  }
  // Small writes fill the last partial block too.
  try {
    for (;;) fs.writeSync(fd, chunk.subarray(0, 512));
  } catch {
    // full
  } finally {
    fs.closeSync(fd);
  }
}

test('a full disk under BTFD_HOME: the daemon keeps answering, drops and counts log lines, and codes the failures', { skip: IS_ROOT ? false : 'needs root to mount a tmpfs', timeout: 180_000 }, async (t) => {
  const dir = fs.mkdtempSync('/tmp/btfd-disk-');
  const mount = path.join(dir, 'm');
  fs.mkdirSync(mount);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE},mode=0700`, 'tmpfs', mount]);
  t.after(() => {
    try {
      execFileSync('umount', ['-l', mount]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  // debug: every request logs a line, so the full disk is hit by logging for sure.
  const daemon = await startDaemonHome(t, path.join(mount, 'h'), { flags: { pahole: fixturePahole(), workers: 2, logLevel: 'debug' } });
  const cold = await daemon.client.build({ dir: kernel.dir });
  assert.equal(cold.failed, 0, JSON.stringify(cold.failures));

  const filler = path.join(mount, 'filler');
  fillDisk(filler);

  // Every log call fails now: requests must still be answered.
  for (let i = 0; i < 50; i += 1) await daemon.client.hello();
  const full = await daemon.client.status();
  assert.ok(full.health.log !== null);
  assert.ok(full.health.log.dropped > 0, `lines dropped: ${JSON.stringify(full.health.log)}`);
  assert.equal(full.health.log.lastError?.code, 'ENOSPC');

  // A build that must write to the cache fails with the disk's own code, never INTERNAL or a bare errno.
  fs.appendFileSync(kernel.modules[0]!, Buffer.from('changed'));
  let code: string | null = null;
  try {
    const report = await daemon.client.build({ dir: kernel.dir });
    code = report.failures[0]?.error?.code ?? null;
  } catch (err) {
    assert.ok(err instanceof BtfdError, String(err));
    code = err.code;
  }
  assert.equal(code, 'BTFD_ERR_FS_NO_SPACE');
  assert.ok(pidAlive(daemon.pid), 'the daemon survived');

  // Space back: the log says how many lines it lost, and the build goes through.
  fs.rmSync(filler);
  const again = await daemon.client.build({ dir: kernel.dir });
  assert.equal(again.failed, 0, JSON.stringify(again.failures));
  const deadline = Date.now() + 5000;
  let dropNote: Record<string, unknown> | undefined;
  while (dropNote === undefined && Date.now() < deadline) {
    await daemon.client.hello();
    dropNote = daemon.logLines().find((line) => line['msg'] === 'log lines dropped');
  }
  assert.ok(dropNote !== undefined, `the log reports the lines it lost: ${JSON.stringify((await daemon.client.status()).health)} ${JSON.stringify(daemon.logLines().slice(-3))}`);
  assert.ok(Number(dropNote['dropped']) > 0);
  const metrics = await fetchMetrics(daemon.config.socketPath);
  assert.match(metrics, /^btfd_log_dropped_lines_total [1-9]\d*$/m);
});

/** GET /metrics over the unix socket. */
async function fetchMetrics(socketPath: string): Promise<string> {
  const http = await import('node:http');
  return new Promise((resolve, reject) => {
    const request = http.request({ socketPath, path: '/metrics', method: 'GET' }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve(text));
    });
    request.on('error', reject);
    request.end();
  });
}
