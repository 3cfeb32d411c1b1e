/**
 * The daemon commands of the CLI: `btfd start [--foreground]`, `stop`, `status [--json]`,
 * `logs [-f]`. Each is a plain async function (config, options, io) → exit code; client/cli.ts
 * wires them into commander. Output is short human text (JSON with --json), never raw log JSON.
 */
import { EXIT_COMMAND_FAILED, formatBytes, formatDuration, formatError, formatHitRate, formatRemote, formatTier } from './format.js';
import fs from 'node:fs';
import os from 'node:os';
import { StringDecoder } from 'node:string_decoder';
import { setTimeout as sleep } from 'node:timers/promises';
import { configToDaemonArgs, configToDaemonEnv, type Config } from '../shared/config.js';
import { BtfdError } from '../shared/errors.js';
import type { TreeBuild } from '../shared/build-types.js';
import { describeCounts } from '../shared/module-actions.js';
import type { StatusResponse } from '../shared/protocol/status.js';
import { connectDaemon, defaultDaemonEntry, isNotRunning, stopDaemonAndWait, type ConnectOptions, type DaemonClient } from './connect.js';

/** Where a command writes. */
export interface CommandIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

/** `btfd status` exits with this when no daemon runs (the LSB status convention). */
export const STATUS_NOT_RUNNING_EXIT_CODE = 3;
const LOG_FOLLOW_POLL_MS = 200;
const DEFAULT_LOG_LINES = 50;

/** Print a command's error the one way the CLI prints errors; the command could not run. */
function reportError(err: unknown, io: CommandIo): number {
  io.stderr.write(`${formatError(err)}\n`);
  return EXIT_COMMAND_FAILED;
}

function printNotes(client: DaemonClient, io: CommandIo): void {
  for (const note of client.notes) io.stderr.write(`btfd: ${note}\n`);
}

/** Connect without autostart; null when no daemon runs or the one there is stopping. */
async function connectIfRunning(config: Config): Promise<DaemonClient | null> {
  try {
    return await connectDaemon(config, { autostart: false });
  } catch (err) {
    if (isNotRunning(err)) return null;
    if (err instanceof BtfdError && err.code === 'BTFD_ERR_DAEMON_SHUTTING_DOWN') return null;
    throw err;
  }
}

/**
 * The daemon in the foreground: its process runs attached to this terminal (it prints where it
 * listens, then its log lines, shown readable), signals are passed on to it, and its exit code is
 * ours. In a container or a systemd unit this is what `docker logs` and the journal get.
 */
async function runForeground(config: Config, io: CommandIo): Promise<number> {
  const format = await createLogLineFormatter();
  const { spawn } = await import('node:child_process');
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [defaultDaemonEntry(), ...configToDaemonArgs(config), '--foreground'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...configToDaemonEnv(config) },
    });
    const decoder = new StringDecoder('utf8');
    let pending = '';
    child.stdout.on('data', (chunk: Buffer) => {
      pending = printLines(pending + decoder.write(chunk), format, io);
    });
    child.stderr.on('data', (chunk: Buffer) => io.stderr.write(chunk));
    const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
    const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((signal) => [signal, forward(signal)] as const);
    for (const [signal, handler] of handlers) process.on(signal, handler);
    child.once('close', (code, signal) => {
      for (const [s, handler] of handlers) process.off(s, handler);
      resolve(code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0));
    });
  });
}

/** `btfd start [--foreground]`. */
export async function startCommand(
  config: Config,
  options: { readonly foreground?: boolean; readonly connect?: Omit<ConnectOptions, 'autostart'> },
  io: CommandIo,
): Promise<number> {
  if (options.foreground === true) return runForeground(config, io);
  try {
    const running = await connectIfRunning(config);
    if (running !== null && running.mismatch === null) {
      io.stdout.write(`btfd daemon already running (pid ${running.identity.pid}) on ${config.socketPath}\n`);
      return 0;
    }
    const client = await connectDaemon(config, { ...options.connect, autostart: true });
    printNotes(client, io);
    io.stdout.write(`btfd daemon started (pid ${client.identity.pid}) on ${config.socketPath}\n`);
    return 0;
  } catch (err) {
    return reportError(err, io);
  }
}

/** `btfd stop`: stop the daemon and wait for its process to end. */
export async function stopCommand(config: Config, options: { readonly timeoutMs?: number }, io: CommandIo): Promise<number> {
  try {
    const client = await connectIfRunning(config);
    if (client === null) {
      io.stdout.write('btfd daemon is not running\n');
      return 0;
    }
    const pid = client.identity.pid;
    if (await stopDaemonAndWait(config.socketPath, pid, options.timeoutMs)) {
      io.stdout.write(`btfd daemon stopped (pid ${pid})\n`);
      return 0;
    }
    io.stderr.write(`btfd: the daemon (pid ${pid}) is still finishing its work; it exits when done\n`);
    return 1;
  } catch (err) {
    return reportError(err, io);
  }
}

/** How long ago `atMs` was, as `5m 12s ago`. */
function ago(atMs: number, nowMs: number): string {
  return `${formatDuration(Math.max(0, nowMs - atMs) / 1000)} ago`;
}

/** One line about a tree build: when, why, and what it did. */
function describeTreeBuild(build: TreeBuild, nowMs: number): string {
  return `${ago(build.atMs, nowMs)} (${build.trigger}): ${build.modules} modules, ${describeCounts(build)}, ${build.seconds.toFixed(1)}s`;
}

/** The human text of `btfd status`. */
export function formatStatus(status: StatusResponse, nowMs: number = Date.now()): string {
  const lines = [
    `btfd daemon: running (pid ${status.pid}, up ${formatDuration(status.uptimeSeconds)}, v${status.daemonVersion})${status.warming ? ', warming up' : ''}`,
    `  socket   ${status.socketPath}`,
    `  log      ${status.logPath}`,
  ];
  const pahole = status.pahole;
  lines.push(pahole.error === null
    ? `  pahole   ${pahole.version} at ${pahole.path} (for requests that name none, such as the drop-in's)`
    : `  pahole   ${pahole.name}: ${pahole.error.code} (requests must name their own pahole)`);
  const cache = status.cache;
  if (cache === null) {
    lines.push(`  cache    ${status.cacheDir}: unavailable (${status.cacheError ?? 'unknown error'})`);
  } else {
    lines.push(`  cache    ${status.cacheDir}`);
    lines.push(`           ${cache.entries} entries, ${formatBytes(cache.bytes)} of ${formatBytes(cache.maxBytes)}; ${formatHitRate(cache)}; saved ${formatDuration(cache.savedMs / 1000)}`);
    for (const tier of cache.tiers) lines.push(`           ${tier.tier}: ${formatTier(tier)}`);
    if (cache.remote !== null) lines.push(`  remote   ${formatRemote(cache.remote)}`);
  }
  lines.push(`  workers  ${status.pool.size} (${status.pool.busy} busy, ${status.pool.queued} queued)`);
  const modules = Object.entries(status.modules).map(([outcome, count]) => `${count} ${outcome}`).join(', ');
  const failed = (status.modules['failed'] ?? 0) > 0 ? ' (`btfd modules` says why)' : '';
  lines.push(`  modules  ${modules === '' ? 'none built yet' : `${modules}${failed}`}`);
  if (status.trees.length === 0) lines.push('  trees    none watched');
  for (const tree of status.trees) {
    const state = tree.missing ? 'missing' : tree.building ? 'building' : tree.ready ? 'watching' : 'starting';
    const health = tree.errors > 0 ? `, ${tree.errors} watcher errors` : '';
    const used = (tree.lastPass ?? tree.lastBuild)?.pahole;
    lines.push(`  tree     ${tree.dir} (${state}${health})${used ? `; pahole ${used.version} at ${used.path}` : ''}`);
    lines.push(`           last build ${tree.lastBuild ? describeTreeBuild(tree.lastBuild, nowMs) : 'none that changed a module yet'}`);
    if (tree.lastPass && tree.lastPass !== tree.lastBuild && tree.lastPass.atMs !== tree.lastBuild?.atMs) {
      lines.push(`           last check ${describeTreeBuild(tree.lastPass, nowMs)}`);
    }
    if (tree.lastError) lines.push(`           error ${tree.lastError.code}: ${tree.lastError.message}`);
  }
  lines.push(`  idle     ${status.idleTimeoutMs === 0 ? 'never exits on its own' : `exits after ${formatDuration(status.idleTimeoutMs / 1000)} without requests`}`);
  return `${lines.join('\n')}\n`;
}

/** `btfd status [--json]`: 0 when running, {@link STATUS_NOT_RUNNING_EXIT_CODE} when not. */
export async function statusCommand(config: Config, options: { readonly json?: boolean }, io: CommandIo): Promise<number> {
  try {
    const client = await connectIfRunning(config);
    if (client === null) {
      if (options.json === true) io.stdout.write(`${JSON.stringify({ running: false, socketPath: config.socketPath })}\n`);
      else io.stdout.write(`btfd daemon: not running (socket ${config.socketPath})\n`);
      return STATUS_NOT_RUNNING_EXIT_CODE;
    }
    const status = await client.status();
    if (options.json === true) {
      io.stdout.write(`${JSON.stringify({ running: true, mismatch: client.mismatch, ...status })}\n`);
    } else {
      io.stdout.write(formatStatus(status));
      if (client.mismatch !== null) io.stdout.write(`  note     ${client.mismatch}; the next command that needs it restarts it\n`);
    }
    return 0;
  } catch (err) {
    return reportError(err, io);
  }
}

/**
 * A formatter of pino JSON log lines as readable text, by pino-pretty (loaded only when logs are
 * shown): `[2025-01-02 03:04:05.678] INFO: [1234 daemon] daemon listening {"socketPath":"/run/…"}`,
 * an error's stack on the lines after. Lines that are not pino JSON (a spawned daemon's stderr)
 * come back as they are.
 */
export async function createLogLineFormatter(): Promise<(line: string) => string> {
  const { prettyFactory } = await import('pino-pretty');
  const pretty = prettyFactory({
    colorize: false,
    singleLine: true,
    translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
    ignore: 'hostname,pid,component',
    messageFormat: '[{pid} {component}] {msg}',
  });
  return (line: string) => pretty(line).replace(/\n$/, '');
}

/** Print complete lines of `text` with `format`; returns the unfinished tail. */
function printLines(text: string, format: (line: string) => string, io: CommandIo): string {
  const lines = text.split('\n');
  const tail = lines.pop() ?? '';
  for (const line of lines) if (line.trim() !== '') io.stdout.write(`${format(line)}\n`);
  return tail;
}

/**
 * `btfd logs [-f] [-n LINES]`: the daemon's log, readable. With `follow`, keeps printing new
 * lines (surviving truncation) until `signal` aborts.
 */
export async function logsCommand(
  config: Config,
  options: { readonly follow?: boolean; readonly lines?: number; readonly signal?: AbortSignal },
  io: CommandIo,
): Promise<number> {
  const logPath = config.logPath;
  const format = await createLogLineFormatter();
  let position = 0;
  let pending = '';
  try {
    const text = fs.readFileSync(logPath, 'utf8');
    const lines = text.split('\n');
    const complete = lines.slice(0, -1);
    pending = lines[lines.length - 1] ?? '';
    const wanted = options.lines ?? DEFAULT_LOG_LINES;
    printLines(`${complete.slice(Math.max(0, complete.length - wanted)).join('\n')}\n`, format, io);
    position = Buffer.byteLength(text);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return reportError(err, io);
    if (options.follow !== true) {
      io.stderr.write(`btfd: no log yet at ${logPath}\n`);
      return 0;
    }
  }
  if (options.follow !== true) return 0;

  // A read may end inside a multi-byte character; the decoder carries it over.
  let decoder = new StringDecoder('utf8');
  while (options.signal?.aborted !== true) {
    try {
      await sleep(LOG_FOLLOW_POLL_MS, undefined, options.signal === undefined ? {} : { signal: options.signal });
    } catch {
      break; // aborted
    }
    let size: number;
    try {
      size = fs.statSync(logPath).size;
    } catch {
      continue; // not created yet
    }
    if (size < position) {
      // Truncated or replaced: start over.
      position = 0;
      pending = '';
      decoder = new StringDecoder('utf8');
    }
    if (size === position) continue;
    const fd = fs.openSync(logPath, 'r');
    try {
      const buffer = Buffer.alloc(size - position);
      const read = fs.readSync(fd, buffer, 0, buffer.length, position);
      position += read;
      pending = printLines(pending + decoder.write(buffer.subarray(0, read)), format, io);
    } finally {
      fs.closeSync(fd);
    }
  }
  return 0;
}
