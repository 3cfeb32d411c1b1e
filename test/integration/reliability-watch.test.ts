/**
 * Watch mode under hostile trees: a base truncated in place must show as the tree's error (with a
 * code, in status and as an event), not vanish; a tree with more dirs than the watcher limit is
 * refused with a code, and unwatching releases what watching took.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { createFixtureKernel, fixturePahole } from '../fixtures/fixture-kernel.js';
import { startDaemonHome, subscribeEvents, waitFor } from '../helpers/daemon-home.js';

test('a watched tree whose vmlinux is truncated reports BTFD_ERR_WATCH_BASE_BROKEN in status and events, and clears it once the base is whole', { timeout: 180_000 }, async (t) => {
  const dir = fs.mkdtempSync('/tmp/btfd-wbase-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const daemon = await startDaemonHome(t, path.join(dir, 'h'), { flags: { pahole: fixturePahole(), workers: 2 } });
  await daemon.client.watch({ dir: kernel.dir });
  await waitFor('the first builds', 60_000, async () => {
    const tree = (await daemon.client.status()).trees[0];
    return tree?.ready === true && !tree.building && tree.lastPass !== null ? tree : undefined;
  });
  const stream = await subscribeEvents(daemon.config.socketPath);
  t.after(() => stream.close());

  const vmlinux = path.join(kernel.dir, 'vmlinux');
  const whole = fs.readFileSync(vmlinux);
  fs.writeFileSync(vmlinux, whole.subarray(0, Math.floor(whole.length / 3)));
  const broken = await waitFor('the tree error', 30_000, async () => {
    const tree = (await daemon.client.status()).trees[0];
    return tree?.lastError ?? undefined;
  });
  assert.equal(broken.code, 'BTFD_ERR_WATCH_BASE_BROKEN');
  assert.match(broken.message, /BTFD_ERR_(ELF|BASE|BTF)_[A-Z_]+/, 'the reader\'s own code is in the message');
  const event = await waitFor('the tree-error event', 5000, () => stream.events.find((e) => e.type === 'tree-error'));
  assert.equal(event.data['code'], 'BTFD_ERR_WATCH_BASE_BROKEN');

  fs.writeFileSync(vmlinux, whole);
  await waitFor('the error to clear', 30_000, async () => ((await daemon.client.status()).trees[0]?.lastError === null ? true : undefined));
});

/** `count` nested and sibling dirs under `root` (no modules: only the watcher's cost). */
function makeDirs(root: string, count: number): void {
  for (let i = 0; i < count; i += 1) fs.mkdirSync(path.join(root, 'junk', `d${Math.floor(i / 50)}`, `e${i % 50}`), { recursive: true });
}

test('a tree with more dirs than BTFD_WATCH_MAX_DIRS is refused with BTFD_ERR_WATCH_TOO_LARGE and leaves no registration; under it, watch and unwatch work', { timeout: 180_000 }, async (t) => {
  const dir = fs.mkdtempSync('/tmp/btfd-wsize-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  makeDirs(kernel.dir, 400);
  const daemon = await startDaemonHome(t, path.join(dir, 'h'), { flags: { pahole: fixturePahole(), workers: 2 }, env: { BTFD_WATCH_MAX_DIRS: '300' } });
  await assert.rejects(daemon.client.watch({ dir: kernel.dir }), (err: unknown) => {
    assert.equal((err as { code?: string }).code, 'BTFD_ERR_WATCH_TOO_LARGE');
    assert.match((err as Error).message, /more than 300 directories/);
    return true;
  });
  assert.deepEqual((await daemon.client.status()).trees, []);
  assert.deepEqual((await daemon.client.trees()).trees, []);

  // The same tree without the junk fits: watched, then unwatched, nothing left.
  fs.rmSync(path.join(kernel.dir, 'junk'), { recursive: true });
  await daemon.client.watch({ dir: kernel.dir });
  assert.equal((await daemon.client.status()).trees.length, 1);
  await daemon.client.unwatch(kernel.dir);
  assert.deepEqual((await daemon.client.status()).trees, []);
});
