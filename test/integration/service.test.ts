/**
 * `btfd install-service`: the systemd user unit it writes restarts the daemon on failure only,
 * and its ExecStart, run with the unit's environment as systemd would, is the daemon this shell's
 * commands find (no systemd runs here, so the unit's own command line is what is tested).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { requestHello } from '../../client/daemon-client.js';
import { resolveConfig } from '../../shared/config.js';
import { runCli } from '../helpers/cli-harness.js';

/** The words of a systemd command line or assignment: "…" quoted, with \\ \" and %% escapes. */
function unquote(text: string): string[] {
  return [...text.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) =>
    m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1').replaceAll('%%', '%') : m[2]!);
}

test('install-service writes a user unit whose ExecStart is the daemon this shell finds, restarted on failure', async (t) => {
  const dir = fs.mkdtempSync('/tmp/btfd-u-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const home = path.join(dir, 'h');
  const env = { BTFD_HOME: home, XDG_CONFIG_HOME: path.join(dir, 'config') };

  const printed = await runCli(['install-service', '--print'], env);
  assert.equal(printed.code, 0, printed.stderr);
  const installed = await runCli(['install-service'], env);
  assert.equal(installed.code, 0, installed.stderr);
  const file = path.join(dir, 'config', 'systemd', 'user', 'btfd.service');
  assert.match(installed.stdout, new RegExp(`^wrote ${file}\\n`));
  assert.match(installed.stdout, /systemctl --user enable --now btfd\.service/);
  assert.match(installed.stdout, /loginctl enable-linger/);
  const unit = fs.readFileSync(file, 'utf8');
  assert.equal(unit, printed.stdout);
  for (const line of ['Restart=on-failure', 'RestartPreventExitStatus=2 3', 'SuccessExitStatus=143 130', 'WantedBy=default.target']) {
    assert.ok(unit.split('\n').includes(line), line);
  }
  // systemd's own reading of it, where systemd is installed (it needs no running manager).
  const verify = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
  if (verify.error === undefined) assert.deepEqual([verify.status, verify.stderr], [0, ''], 'systemd-analyze verify finds nothing to say');
  else t.diagnostic('systemd-analyze is not installed: the unit was not checked by systemd');

  // Run its command line with its environment, as systemd would (systemd adds HOME and USER).
  const exec = unquote(/^ExecStart=(.*)$/m.exec(unit)![1]!);
  const unitEnv = Object.fromEntries([...unit.matchAll(/^Environment=(.*)$/gm)].flatMap((m) => unquote(m[1]!)).map((kv) => {
    const eq = kv.indexOf('=');
    return [kv.slice(0, eq), kv.slice(eq + 1)];
  }));
  assert.equal(unitEnv['BTFD_IDLE_TIMEOUT_MS'], '0', 'a service does not idle out');
  const daemon = spawn(exec[0]!, exec.slice(1), { env: { ...unitEnv, HOME: process.env['HOME'] ?? '/' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  daemon.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
  const exited = new Promise<number | null>((resolve) => daemon.once('exit', (code) => resolve(code)));
  t.after(() => daemon.kill('SIGKILL'));
  const config = resolveConfig({ env: { BTFD_HOME: home } });
  let pid = 0;
  for (let i = 0; i < 200 && pid === 0; i++) {
    pid = await requestHello(config.socketPath, 1000).then((hello) => hello.pid, () => 0);
    if (pid === 0) await sleep(50);
  }
  assert.equal(pid, daemon.pid, 'the unit runs the daemon itself, not a wrapper');
  const status = await runCli(['status', '--json'], env);
  assert.equal(JSON.parse(status.stdout).pid, daemon.pid, "this shell's commands find the service's daemon");
  assert.match(stdout, /"msg":"daemon listening"/, 'its log lines go to stdout, for the journal');
  daemon.kill('SIGTERM');
  assert.equal(await exited, 143, 'a stop by systemd (SIGTERM) exits 143, listed in SuccessExitStatus');
});
