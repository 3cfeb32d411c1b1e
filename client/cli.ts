/**
 * The `btfd` command line. Commands are thin: they resolve the config once, then talk to the
 * daemon (autostarting it) or, with `--no-daemon`, to a one-shot daemon of their own, and print
 * short text or `--json`. Exit status: 0 ok, 1 when a module failed (or `cache verify` found
 * damage), 2 when the command itself could not run or its command line is wrong, 3 for `status`
 * when no daemon runs, 130 after Ctrl-C.
 *
 * Global options (`--pahole`, `--workers`) are read only before the command name, so that a
 * command's own option values may start with a dash (`--pahole-flags -V`); each command accepts
 * them after its name too.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import path from 'node:path';
import type { BuildReport, BuildRequest } from '../shared/build-types.js';
import { parseSize, resolveConfig, type Config, type ConfigFlags } from '../shared/config.js';
import { BtfdError, toBtfdError } from '../shared/errors.js';
import { DAEMON_VERSION } from '../shared/version.js';
import type { DaemonClient } from './daemon-client.js';
import {
  describeReplaced, EXIT_COMMAND_FAILED, EXIT_INTERRUPTED, formatBuildReport, formatBytes, formatCacheStats, formatError, formatExplanation,
  formatModules,
} from './format.js';

// Each command imports what it needs when it runs: `btfd status --json` must not pay for the
// progress bar, the log formatter or the one-shot machinery (see BENCHMARKS.md, CLI start).

/** Where the CLI writes, and how it hears Ctrl-C (main.ts passes the process's). */
export interface Io {
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
  /** Call `handler` on the first Ctrl-C (SIGINT) until the returned function is called. */
  readonly onInterrupt?: (handler: () => void) => () => void;
  /** The directory relative paths are taken from; default: the process's. */
  readonly cwd?: string;
}

/** The settings a command may override after its name (they are global options too). */
interface SettingOptions {
  readonly pahole?: string;
  readonly workers?: string;
}

interface BackendOptions extends SettingOptions {
  /** commander's `--no-daemon` sets daemon to false. */
  readonly daemon?: boolean;
}

function print(stream: NodeJS.WritableStream, text: string): void {
  stream.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** commander's parser for sizes, with config's rules and commander's error type. */
function parseSizeOption(value: string): number {
  try {
    return parseSize(value, '--max-size');
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** A usage error as the CLI prints every error: code, what, next step (commander says "error: …"). */
function formatUsageError(text: string): string {
  const detail = text.trim().replace(/^error: /, '');
  return `${formatError(new BtfdError('BTFD_ERR_USAGE', detail))}\n`;
}

/** The settings options every command takes, as the global ones. */
function addSettingOptions(command: Command): void {
  command
    .option('--pahole <path>', 'pahole binary to use (default: BTFD_PAHOLE, then pahole on PATH)')
    .option('--workers <n>', 'pahole processes at once, for a daemon this starts (default: number of cores)');
}

/** Build the commander program; `setExitCode` receives each command's exit status. */
export function buildProgram(env: NodeJS.ProcessEnv, io: Io, setExitCode: (code: number) => void): Command {
  const cwd = io.cwd ?? process.cwd();
  const resolvePath = (file: string): string => path.resolve(cwd, file);
  const program = new Command('btfd')
    .description('Incremental build daemon and content-addressed cache for Linux kernel module BTF')
    .version(DAEMON_VERSION, '-V, --version', 'print the version')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: (s, write) => write(formatUsageError(s)),
    });
  addSettingOptions(program);
  program
    .option('--remote-cache <url>', 'team cache: http(s)://host:port[/prefix] (bazel-remote, nginx WebDAV) or redis(s)://host:port[/db]; off for none (default: BTFD_REMOTE_CACHE)')
    .option('--remote-readonly', 'read from the remote cache, never write to it (default: BTFD_REMOTE_READONLY)')
    .option('--remote-salt <salt>', 'keys the remote entries: a new salt disowns the old ones (default: BTFD_REMOTE_SALT)')
    .option('--remote-timeout-ms <ms>', 'each remote request fails after this long (default: BTFD_REMOTE_TIMEOUT_MS, 5000)')
    .option('--remote-ttl <duration>', 'Redis only: entries expire this long after their last use, e.g. 7d (default: BTFD_REMOTE_TTL)');

  /** The config, with a command's own --pahole/--workers over the global ones. */
  const config = (local: SettingOptions = {}): Config => {
    // commander spells --remote-readonly `remoteReadonly`; the config option is remoteReadOnly.
    const { remoteReadonly, ...flags } = program.opts<ConfigFlags & { remoteReadonly?: boolean }>();
    return resolveConfig({
      env,
      flags: {
        ...flags,
        ...(remoteReadonly === undefined ? {} : { remoteReadOnly: remoteReadonly }),
        ...(local.pahole !== undefined ? { pahole: local.pahole } : {}),
        ...(local.workers !== undefined ? { workers: local.workers } : {}),
      },
    });
  };
  const note = (text: string) => print(io.stderr, `btfd: ${text}`);

  /**
   * The pahole this command means, as the daemon must find it: a path as given, or the name found
   * on this command's PATH (the daemon's PATH may be another). It travels with the request.
   */
  async function requestPahole(local: SettingOptions): Promise<string> {
    const name = config(local).pahole;
    if (name.includes('/')) return resolvePath(name);
    const { findExecutable } = await import('../shared/executable.js');
    return (await findExecutable(name, env['PATH'])) ?? name;
  }

  /** Run work against the home's daemon or, with --no-daemon, a one-shot daemon of this command's. */
  async function withBackend<T>(options: BackendOptions, work: (client: DaemonClient) => Promise<T>): Promise<T> {
    const resolved = config(options);
    const { daemonBackend, oneshotBackend } = await import('./backend.js');
    const backend = options.daemon === false ? await oneshotBackend(resolved) : await daemonBackend(resolved, note);
    try {
      return await work(backend.client);
    } finally {
      await backend.close();
    }
  }

  /** A command's action: its exit status, or its error printed the one way errors are printed. */
  const action =
    <A extends unknown[]>(fn: (...args: A) => Promise<number>, onError?: (err: unknown) => void) =>
    async (...args: A): Promise<void> => {
      try {
        setExitCode(await fn(...args));
      } catch (err) {
        if (onError) onError(err);
        else print(io.stderr, formatError(err));
        setExitCode(EXIT_COMMAND_FAILED);
      }
    };
  const noDaemon = () => new Option('--no-daemon', 'run the engine for this command alone instead of in the shared daemon');
  const daemonCommands = () => import('./daemon-commands.js');

  program
    .command('start')
    .description('start the daemon (in the background unless --foreground)')
    .option('--foreground', 'run the daemon attached to this terminal, its log lines readable on stdout')
    .action(action(async (opts: SettingOptions & { foreground?: boolean }) =>
      (await daemonCommands()).startCommand(config(opts), { foreground: opts.foreground === true }, io)));
  program
    .command('stop')
    .description('stop the daemon, letting running work finish')
    .action(action(async (opts: SettingOptions) => (await daemonCommands()).stopCommand(config(opts), {}, io)));
  program
    .command('status')
    .description('daemon state: pid, pahole, cache and hit rate, trees and their builds, modules, pool (exit 3 when not running)')
    .option('--json', 'print one JSON object')
    .action(action(async (opts: SettingOptions & { json?: boolean }) => (await daemonCommands()).statusCommand(config(opts), { json: opts.json === true }, io)));
  program
    .command('logs')
    .description("show the daemon's log, readable")
    .option('-f, --follow', 'keep printing new lines')
    .option('-n, --lines <n>', 'how many lines to show first', (v) => Number.parseInt(v, 10))
    .action(
      action(async (opts: SettingOptions & { follow?: boolean; lines?: number }) =>
        (await daemonCommands()).logsCommand(config(opts), { follow: opts.follow === true, ...(opts.lines !== undefined ? { lines: opts.lines } : {}) }, io),
      ),
    );

  program
    .command('build')
    .description('bring every module under DIR (or the named modules) up to date now')
    .argument('[targets...]', 'a tree (a kernel build dir, or any dir with a base and .ko files; default: .), or .ko files of one tree')
    .option('--base <path>', 'base BTF: a vmlinux or a raw BTF file (default: DIR/vmlinux)')
    .option('--pahole-flags <flags>', "pahole encoding flags (default: what the tree's scripts choose)")
    .option('--json', 'print one JSON object instead of text (an error too: {"error": …})')
    .option('--no-relocate', 'regenerate modules cached on another base instead of relocating them')
    .addOption(noDaemon())
    .action(async (targets: string[], opts: BackendOptions & { base?: string; paholeFlags?: string; json?: boolean; relocate?: boolean }) => {
      // With --json, even a build that cannot run prints one object, on stdout.
      const onError = opts.json ? (err: unknown) => {
        const error = toBtfdError(err);
        print(io.stdout, JSON.stringify({ error: { code: error.code, message: error.message, next: error.next } }));
      } : undefined;
      await action(async () => {
        const { resolveBuildTarget } = await import('./build-target.js');
        const target = await resolveBuildTarget(targets, cwd);
        const request: BuildRequest = {
          dir: target.dir,
          ...(target.modules ? { modules: target.modules } : {}),
          ...(opts.base ? { base: resolvePath(opts.base) } : {}),
          ...(opts.paholeFlags !== undefined ? { paholeFlags: opts.paholeFlags } : {}),
          pahole: await requestPahole(opts),
          ...(opts.relocate === false ? { relocate: false } : {}),
        };
        const progress = opts.json ? null : (await import('./build-progress.js')).createBuildProgress(io.stderr);
        // Ctrl-C hangs up on the daemon, which cancels the build's queued modules.
        const cancel = new AbortController();
        const stopListening = io.onInterrupt?.(() => cancel.abort()) ?? (() => undefined);
        let report: BuildReport;
        try {
          report = await withBackend(opts, (client) => {
            progress?.connected();
            return client.build(request, progress ? (event) => progress.onEvent(event) : undefined, cancel.signal);
          });
        } catch (err) {
          if (!cancel.signal.aborted) throw err;
          progress?.stop();
          note('build cancelled: modules in flight finish in the daemon, queued ones were dropped');
          return EXIT_INTERRUPTED;
        } finally {
          stopListening();
          progress?.stop();
        }
        print(io.stdout, opts.json ? JSON.stringify(report) : formatBuildReport(report));
        return report.failed > 0 ? 1 : 0;
      }, onError)();
    });

  program
    .command('watch')
    .description("keep DIR's modules current as files change (registrations survive restarts)")
    .argument('<dir>', 'the tree to watch')
    .option('--base <path>', 'base BTF (default: DIR/vmlinux)')
    .option('--pahole-flags <flags>', "pahole encoding flags (default: what the tree's scripts choose)")
    .option('--json', 'print the tree status as JSON')
    .action(
      action(async (dir: string, opts: SettingOptions & { base?: string; paholeFlags?: string; json?: boolean }) => {
        const { connectDaemon } = await import('./connect.js');
        const client = await connectDaemon(config(opts), { autostart: true });
        for (const text of client.notes) note(text);
        const tree = await client.watch({
          dir: resolvePath(dir),
          ...(opts.base ? { base: resolvePath(opts.base) } : {}),
          ...(opts.paholeFlags !== undefined ? { paholeFlags: opts.paholeFlags } : {}),
          pahole: await requestPahole(opts),
        });
        if (tree.replaced) note(describeReplaced(tree.dir, tree.replaced, tree));
        print(io.stdout, opts.json ? JSON.stringify(tree) : `watching ${tree.dir} (base ${tree.base}); \`btfd status\` shows its builds`);
        return 0;
      }),
    );
  program
    .command('unwatch')
    .description('stop watching DIR (a build of it running now is cancelled)')
    .argument('<dir>', 'a watched tree')
    .action(
      action(async (dir: string, opts: SettingOptions) => {
        const { connectDaemon } = await import('./connect.js');
        const client = await connectDaemon(config(opts), { autostart: true });
        const { removed } = await client.unwatch(resolvePath(dir));
        print(io.stdout, removed ? `stopped watching ${resolvePath(dir)}` : `${resolvePath(dir)} was not watched`);
        return removed ? 0 : 1;
      }),
    );

  program
    .command('modules')
    .description("each module's last change and why (which input changed); failed ones with their code, until fixed")
    .argument('[dir]', 'only modules under this dir')
    .option('--json', 'print JSON')
    .addOption(noDaemon())
    .action(
      action(async (dir: string | undefined, opts: BackendOptions & { json?: boolean }) => {
        const under = dir === undefined ? undefined : resolvePath(dir);
        const { modules } = await withBackend(opts, (client) => client.modules(under));
        print(io.stdout, opts.json ? JSON.stringify({ modules }) : formatModules(modules, under));
        return 0;
      }),
    );

  program
    .command('explain')
    .description("show a module's cache key inputs, their digests, and the cache's verdict")
    .argument('<module>', 'a .ko file')
    .option('--base <path>', 'base BTF (default: the one of its last build, else the nearest vmlinux)')
    .option('--pahole-flags <flags>', 'pahole flags (default: those of its last build)')
    .option('--json', 'print JSON')
    .addOption(noDaemon())
    .action(
      action(async (modulePath: string, opts: BackendOptions & { base?: string; paholeFlags?: string; json?: boolean }) => {
        const pahole = await requestPahole(opts);
        const explanation = await withBackend(opts, (client) =>
          client.explain({
            path: resolvePath(modulePath),
            ...(opts.base ? { base: resolvePath(opts.base) } : {}),
            ...(opts.paholeFlags !== undefined ? { paholeFlags: opts.paholeFlags } : {}),
            pahole,
          }),
        );
        print(io.stdout, opts.json ? JSON.stringify(explanation) : formatExplanation(explanation));
        return 0;
      }),
    );

  program
    .command('kbuild')
    .description('check a kernel build dir for the btfd-pahole drop-in and print the make line')
    .argument('[dir]', 'the kernel build dir', '.')
    .addOption(noDaemon())
    .action(action(async (dir: string, opts: BackendOptions) => {
      const pahole = await requestPahole(opts);
      return withBackend(opts, async (client) => (await import('./kbuild-command.js')).kbuildCommand(config(opts), client, resolvePath(dir), pahole, io));
    }));

  program
    .command('install-service')
    .description('install a systemd user unit (btfd.service) that runs the daemon, restarted on failure')
    .option('--print', 'print the unit instead of writing it')
    .action(action(async (opts: SettingOptions & { print?: boolean }) =>
      (await import('./service.js')).installServiceCommand(config(opts), env, { print: opts.print === true }, io)));

  const cache = program.command('cache').description('inspect and maintain the cache');
  cache
    .command('stats')
    .description('entries, size, hit rate (hits: restored or found fresh), time saved')
    .option('--zero', 'then zero the counters (hits, misses, time saved), as ccache -z')
    .option('--json', 'print JSON')
    .addOption(noDaemon())
    .action(
      action(async (opts: BackendOptions & { json?: boolean; zero?: boolean }) => {
        const stats = await withBackend(opts, (client) => (opts.zero ? client.cacheZeroStats() : client.cacheStats()));
        print(io.stdout, opts.json ? JSON.stringify(stats) : formatCacheStats(stats));
        if (opts.zero && !opts.json) print(io.stdout, 'statistics zeroed');
        return 0;
      }),
    );
  cache
    .command('gc')
    .description('evict least recently used entries until the cache fits')
    .addOption(new Option('--max-size <size>', 'size limit, e.g. 500M or 2G (default: the configured limit)').argParser(parseSizeOption))
    .addOption(noDaemon())
    .action(
      action(async (opts: BackendOptions & { maxSize?: number }) => {
        const result = await withBackend(opts, (client) => client.cacheGc(opts.maxSize));
        print(io.stdout, `removed ${result.removedEntries} entries, ${formatBytes(result.removedBytes)}`);
        return 0;
      }),
    );
  cache
    .command('verify')
    .description('re-hash every blob; drop corrupt ones and orphans (exit 1 when it found any)')
    .option('--json', 'print JSON')
    .addOption(noDaemon())
    .action(
      action(async (opts: BackendOptions & { json?: boolean }) => {
        const result = await withBackend(opts, (client) => client.cacheVerify());
        print(
          io.stdout,
          opts.json
            ? JSON.stringify(result)
            : `checked ${result.checked} blobs: ${result.corrupt.length} corrupt, ${result.missing.length} missing, ${result.orphans} orphans removed`,
        );
        return result.corrupt.length + result.missing.length + result.orphans > 0 ? 1 : 0;
      }),
    );
  cache
    .command('clear')
    .description('remove every cache entry and blob')
    .addOption(noDaemon())
    .action(
      action(async (opts: BackendOptions) => {
        await withBackend(opts, (client) => client.cacheClear());
        print(io.stdout, 'cache cleared');
        return 0;
      }),
    );

  for (const command of [...program.commands, ...cache.commands]) if (command !== cache) addSettingOptions(command);
  return program;
}

/** Exit status of a command line that could not be parsed (BTFD_ERR_USAGE). */
export const EXIT_USAGE = EXIT_COMMAND_FAILED;

/**
 * Parse `argv` and run its command. commander's own exits (help, version, a usage error it has
 * already printed) come back as exit statuses: 0 for help and version, EXIT_USAGE otherwise.
 */
export async function runProgram(program: Command, argv: readonly string[], setExitCode: (code: number) => void): Promise<void> {
  try {
    await program.parseAsync([...argv]);
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    setExitCode(err.exitCode === 0 ? 0 : EXIT_USAGE);
  }
}
