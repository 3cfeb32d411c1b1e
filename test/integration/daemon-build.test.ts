/**
 * A build through the real daemon with the real client: NDJSON progress over the unix socket,
 * the report, a second build that finds everything fresh, and engine errors rebuilt on the
 * client side as BtfdError by code. Real pahole on the fixture kernel.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { connectDaemon, waitForExit } from '../../client/connect.js';
import type { BuildEvent } from '../../shared/build-types.js';
import { resolveConfig } from '../../shared/config.js';
import { BtfdError } from '../../shared/errors.js';
import { createFixtureKernel, fixturePahole } from '../fixtures/fixture-kernel.js';

test('the client streams a real build through the daemon and gets the report', async (t) => {
  const dir = fs.mkdtempSync('/tmp/btfd-');
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('BTFD_')));
  env['BTFD_HOME'] = path.join(dir, 'h');
  // pahole 1.24 adds .BTF through $LLVM_OBJCOPY; the daemon inherits this env, as kbuild's would.
  env['LLVM_OBJCOPY'] ??= 'objcopy';
  const config = resolveConfig({ env, flags: { pahole: fixturePahole(), workers: 2 } });
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const client = await connectDaemon(config, { autostart: true, env });
  t.after(async () => {
    try {
      await client.stop();
    } catch {
      // already gone
    }
    await waitForExit(client.identity.pid, 10_000);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const events: BuildEvent[] = [];
  const cold = await client.build({ dir: kernel.dir }, (event) => events.push(event));
  const n = kernel.modules.length;
  assert.deepEqual([cold.modules, cold.regenerated, cold.failed], [n, n, 0], JSON.stringify(cold.failures));
  assert.equal(events[0]?.type, 'planned');
  const moduleEvents = events.filter((event) => event.type === 'module');
  assert.equal(moduleEvents.length, n);
  assert.deepEqual(moduleEvents.map((event) => event.done).sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i + 1));
  assert.deepEqual(new Set(moduleEvents.map((event) => event.result.path)), new Set(kernel.modules));

  const warm = await client.build({ dir: kernel.dir });
  assert.deepEqual([warm.modules, warm.fresh], [n, n], 'nothing changed: every module is fresh');

  const modules = await client.modules(kernel.dir);
  assert.equal(modules.modules.length, n);
  const stats = await client.cacheStats();
  assert.ok(stats.entries >= n);

  // An engine error before the first event travels as an HTTP error and comes back by code.
  await assert.rejects(client.build({ dir: path.join(dir, 'missing') }, () => {}), (err) => {
    assert.ok(err instanceof BtfdError);
    assert.match(err.code, /^BTFD_ERR_(TREE_NOT_FOUND|BASE_MISSING)$/);
    return true;
  });
  // A request the schema refuses: the daemon's 400 is rebuilt as BTFD_ERR_REQUEST_INVALID.
  await assert.rejects(client.build({ dir: 'relative' }), (err) => err instanceof BtfdError && err.code === 'BTFD_ERR_REQUEST_INVALID');
  assert.equal((await client.hello()).pid, client.identity.pid, 'bad requests leave the daemon serving');
});
