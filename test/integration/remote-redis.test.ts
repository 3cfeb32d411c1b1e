/** The remote tier's scenarios against Debian's redis-server (test/helpers/remote-scenarios.ts), and the TTL. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defineRemoteScenarios, fillRemote, home, remoteConfig, team } from '../helpers/remote-scenarios.js';
import { startRedis } from '../helpers/remote-servers.js';

defineRemoteScenarios('redis');

test('redis: a TTL is set on every write and renewed by reads', async (t) => {
  const server = await startRedis(t);
  const crew = await team(t);
  await fillRemote(t, crew, remoteConfig(server, { BTFD_REMOTE_TTL: '2h' }));
  const redis = server.client();
  const keys = await redis.keys('btfd:*');
  assert.ok(keys.length > 0);
  for (const key of keys) {
    const ttl = await redis.ttl(key);
    assert.ok(ttl > 7000 && ttl <= 7200, `${key}: TTL ${ttl}`);
  }
  // Age one blob's TTL, then let a restore read it: GETEX renews it.
  const blob = keys.find((key) => key.startsWith('btfd:cas:'));
  assert.ok(blob);
  await redis.expire(blob, 60);
  const b = await home(t, crew, remoteConfig(server, { BTFD_REMOTE_TTL: '2h' })).engine.build({ dir: (await crew.kernel('b')).dir });
  assert.equal(b.restored, b.modules);
  assert.ok((await redis.ttl(blob)) > 7000, 'a read renewed the TTL');
});
