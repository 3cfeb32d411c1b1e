/**
 * `btfd install-service`: a systemd user unit, `btfd.service`, that runs the daemon in the
 * foreground (its log lines go to the journal as well as its log file), restarted when it fails,
 * so watched trees keep being watched across crashes and, with lingering, logouts.
 *
 * The unit pins what decides where this shell's commands look for the daemon (BTFD_HOME, or the
 * XDG dirs) and this shell's PATH (the daemon's default pahole, and the tools a tree's flag
 * scripts run), so the service is the daemon these commands find. It is not socket-activated:
 * the daemon takes its home's lock and clears a stale socket before it binds its own, and the CLI
 * starts a daemon on demand anyway, so activation would add a second start path and save nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { configToDaemonArgs, type Config } from '../shared/config.js';
import { defaultDaemonEntry } from './connect.js';
import type { CommandIo } from './daemon-commands.js';

/** The unit's file name. */
export const SERVICE_NAME = 'btfd.service';
/** Exit statuses that a restart cannot fix: invalid settings, another daemon owns the home. */
const NO_RESTART_EXIT_STATUSES = [2, 3];
/** Exit statuses of a daemon stopped by SIGTERM/SIGINT (128 + n): stops, not failures. */
const SIGNAL_EXIT_STATUSES = [143, 130];
/** The XDG dirs that place the daemon's socket, cache and logs (shared/paths.ts). */
const XDG_VARIABLES = ['XDG_RUNTIME_DIR', 'XDG_CACHE_HOME', 'XDG_STATE_HOME', 'XDG_CONFIG_HOME'] as const;

/** A value as systemd reads it inside double quotes; `%` would start a specifier. */
function quote(value: string): string {
  return `"${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('%', '%%')}"`;
}

/** The unit for `config` and this environment; `node` and `daemonMain` are the programs it runs. */
export function renderUnit(config: Config, env: NodeJS.ProcessEnv, programs: { readonly node: string; readonly daemonMain: string }): string {
  const exec = [programs.node, programs.daemonMain, ...configToDaemonArgs(config), '--foreground'].map(quote).join(' ');
  const environment = ['Environment="BTFD_IDLE_TIMEOUT_MS=0"'];
  if (env['PATH']) environment.push(`Environment=${quote(`PATH=${env['PATH']}`)}`);
  if (config.home === null) {
    for (const name of XDG_VARIABLES) {
      const value = env[name];
      if (value) environment.push(`Environment=${quote(`${name}=${value}`)}`);
      // Without it this shell's commands use /tmp/btfd-<uid>; so must the service.
      else if (name === 'XDG_RUNTIME_DIR') environment.push('UnsetEnvironment=XDG_RUNTIME_DIR');
    }
  }
  return [
    '# Written by `btfd install-service`; run it again after moving btfd or changing BTFD_HOME.',
    '[Unit]',
    'Description=btfd: incremental build daemon for Linux kernel module BTF',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${exec}`,
    ...environment,
    'Restart=on-failure',
    'RestartSec=2',
    `RestartPreventExitStatus=${NO_RESTART_EXIT_STATUSES.join(' ')}`,
    `SuccessExitStatus=${SIGNAL_EXIT_STATUSES.join(' ')}`,
    '',
    '[Install]',
    'WantedBy=default.target',
    '',
  ].join('\n');
}

/** Where systemd looks for user units: `$XDG_CONFIG_HOME/systemd/user`. */
export function userUnitDir(env: NodeJS.ProcessEnv): string {
  const configHome = env['XDG_CONFIG_HOME'] && path.isAbsolute(env['XDG_CONFIG_HOME']) ? env['XDG_CONFIG_HOME'] : path.join(env['HOME'] ?? '/', '.config');
  return path.join(configHome, 'systemd', 'user');
}

/** Write (or, with `print`, show) the unit, then say how to enable it. */
export async function installServiceCommand(config: Config, env: NodeJS.ProcessEnv, options: { readonly print?: boolean }, io: CommandIo): Promise<number> {
  const unit = renderUnit(config, env, { node: process.execPath, daemonMain: defaultDaemonEntry() });
  if (options.print === true) {
    io.stdout.write(unit);
    return 0;
  }
  const dir = userUnitDir(env);
  const file = path.join(dir, SERVICE_NAME);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(file, unit, { mode: 0o644 });
  io.stdout.write([
    `wrote ${file}`,
    'Start it now and at every login (restarted when it fails):',
    '  systemctl --user daemon-reload',
    `  systemctl --user enable --now ${SERVICE_NAME}`,
    'Keep it running after you log out:',
    '  loginctl enable-linger "$USER"',
    `Its log: \`btfd logs\`, or journalctl --user -u ${SERVICE_NAME}`,
    '',
  ].join('\n'));
  return 0;
}
