/** The pahole wall-time setting: default, file < env < flag, validated, and passed to a spawned daemon. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseArgs } from 'node:util';
import { configToDaemonArgs, DAEMON_ARG_OPTIONS, daemonArgsToFlags, DEFAULT_PAHOLE_TIMEOUT_MS, resolveConfig } from '../../shared/config.js';

test('paholeTimeoutMs: 10 minutes by default, BTFD_PAHOLE_TIMEOUT_MS and --pahole-timeout-ms set it, nonsense is refused by name', () => {
  assert.equal(DEFAULT_PAHOLE_TIMEOUT_MS, 600_000);
  assert.equal(resolveConfig({ env: { BTFD_HOME: '/h' }, file: null }).paholeTimeoutMs, DEFAULT_PAHOLE_TIMEOUT_MS);
  assert.equal(resolveConfig({ env: { BTFD_HOME: '/h', BTFD_PAHOLE_TIMEOUT_MS: '5000' }, file: null }).paholeTimeoutMs, 5000);
  assert.equal(resolveConfig({ env: { BTFD_HOME: '/h', BTFD_PAHOLE_TIMEOUT_MS: '5000' }, flags: { paholeTimeoutMs: 7 }, file: null }).paholeTimeoutMs, 7);
  for (const bad of ['0', '-1', 'soon']) {
    assert.throws(() => resolveConfig({ env: { BTFD_HOME: '/h', BTFD_PAHOLE_TIMEOUT_MS: bad }, file: null }), { code: 'BTFD_ERR_CONFIG_INVALID', message: /BTFD_PAHOLE_TIMEOUT_MS/ });
  }
});

test('a set pahole timeout travels to the spawned daemon', () => {
  const config = resolveConfig({ env: { BTFD_HOME: '/h', BTFD_PAHOLE_TIMEOUT_MS: '1234' }, file: null });
  const args = configToDaemonArgs(config);
  assert.deepEqual(args.slice(args.indexOf('--pahole-timeout-ms'), args.indexOf('--pahole-timeout-ms') + 2), ['--pahole-timeout-ms', '1234']);
  const { values } = parseArgs({ args, options: DAEMON_ARG_OPTIONS });
  assert.equal(resolveConfig({ env: { BTFD_HOME: '/h' }, flags: daemonArgsToFlags(values), file: null }).paholeTimeoutMs, 1234);
});
