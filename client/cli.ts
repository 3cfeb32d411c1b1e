/**
 * The `btfd` command line. Commands are thin: they resolve the config once, then talk to the
 * daemon (autostarting it) or, with `--no-daemon`, run the engine in this process, and print
 * short text or `--json`. Exit status: 0 ok, 1 when a module failed, 2 when the command itself
 * could not run (3 for `status` when no daemon runs).
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import path from 'node:path';
import type { BuildReport, BuildRequest } from '../shared/build-types.js';
import { parseSize, resolveConfig, type Config } from '../shared/config.js';
import { DAEMON_VERSION } from '../shared/version.js';
import type { DaemonClient } from './daemon-client.js';
import { describeReplaced, EXIT_COMMAND_FAILED, EXIT_INTERRUPTED, formatBuildReport, formatBytes, formatCacheStats, formatError, formatExplanation, formatModules } from './format.js';

// Each command imports what it needs when it runs: `btfd status --json` must not pay for the
// progress bar, the log formatter or the one-shot machinery (see BENCHMARKS.md, CLI start).

interface Io {
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
  /** Call `handler` on the first Ctrl-C (SIGINT) until the returned function is called. */
  readonly onInterrupt?: (handler: () => void) => () => void;
}

interface BackendOptions {
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

function absolute(file: string | undefined): string | undefined {
  return file === undefined ? undefined : path.resolve(file);
}

/** Build the commander program; `setExitCode` receives each command's exit status. */
export function buildProgram(env: NodeJS.ProcessEnv, io: Io, setExitCode: (code: number) => void): Command {
  const program = new Command('btfd')
    .description('Incremental build daemon and content-addressed cache for Linux kernel module BTF')
    .version(DAEMON_VERSION)
    .option('--pahole <path>', 'pahole binary to use (default: BTFD_PAHOLE, then pahole on PATH)')
    .option('--workers <n>', 'pahole processes at once (default: number of cores)')
    .showHelpAfterError();
  program.configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });

  const config = (): Config => resolveConfig({ env, flags: program.opts() });
  const note = (text: string) => print(io.stderr, `btfd: ${text}`);

  /**
   * The pahole this command means, as the daemon must find it: a path as given, or the name found
   * on this command's PATH (the daemon's PATH may be another). It travels with the request.
   */
  async function requestPahole(): Promise<string> {
    const name = config().pahole;
    if (name.includes('/')) return path.resolve(name);
    const { findExecutable } = await import('../shared/executable.js');
    return (await findExecutable(name, env['PATH'])) ?? name;
  }

  /** Run work against the home's daemon or, with --no-daemon, a one-shot daemon of this command's. */
  async function withBackend<T>(options: BackendOptions, work: (client: DaemonClient) => Promise<T>): Promise<T> {
    const resolved = config();
    const { daemonBackend, oneshotBackend } = await import('./backend.js');
    const backend = options.daemon === false ? await oneshotBackend(resolved) : await daemonBackend(resolved, note);
    try {
      return await work(backend.client);
    } finally {
      await backend.close();
    }
  }

  const action =
    <A extends unknown[]>(fn: (...args: A) => Promise<number>) =>
    async (...args: A): Promise<void> => {
      try {
        setExitCode(await fn(...args));
      } catch (err) {
        print(io.stderr, formatError(err));
        setExitCode(EXIT_COMMAND_FAILED);
      }
    };
  const noDaemon = () => new Option('--no-daemon', 'run the engine for this command alone instead of in the shared daemon');

  program
    .command('start')
    .description('start the daemon (in the background unless --foreground)')
    .option('--foreground', 'run the daemon in this process, logging to its log file')
    .action(action(async (opts: { foreground?: boolean }) => (await import('./daemon-commands.js')).startCommand(config(), { foreground: opts.foreground === true }, io)));
  program
    .command('stop')
    .description('stop the daemon, letting running work finish')
    .action(action(async () => (await import('./daemon-commands.js')).stopCommand(config(), {}, io)));
  program
    .command('status')
    .description('daemon state: pid, socket, trees, modules, cache, pool (exit 3 when not running)')
    .option('--json', 'print one JSON object')
    .action(action(async (opts: { json?: boolean }) => (await import('./daemon-commands.js')).statusCommand(config(), { json: opts.json === true }, io)));
  program
    .command('logs')
    .description("show the daemon's log, readable")
    .option('-f, --follow', 'keep printing new lines')
    .option('-n, --lines <n>', 'how many lines to show first', (v) => Number.parseInt(v, 10))
    .action(
      action(async (opts: { follow?: boolean; lines?: number }) =>
        (await import('./daemon-commands.js')).logsCommand(config(), { follow: opts.follow === true, ...(opts.lines !== undefined ? { lines: opts.lines } : {}) }, io),
      ),
    );

  program
    .command('build')
    .description('bring every module under DIR up to date now')
    .argument('[dir]', 'the tree: a kernel build dir, or any dir with a base and .ko files', '.')
    .option('--base <path>', 'base BTF: a vmlinux or a raw BTF file (default: DIR/vmlinux)')
    .option('--pahole-flags <flags>', "pahole encoding flags (default: what the tree's scripts choose)")
    .option('--json', 'print one JSON object instead of text')
    .addOption(noDaemon())
    .action(
      action(async (dir: string, opts: BackendOptions & { base?: string; paholeFlags?: string; json?: boolean }) => {
        const request: BuildRequest = {
          dir: path.resolve(dir),
          ...(opts.base ? { base: path.resolve(opts.base) } : {}),
          ...(opts.paholeFlags !== undefined ? { paholeFlags: opts.paholeFlags } : {}),
          pahole: await requestPahole(),
        };
        const progress = opts.json ? null : (await import('./build-progress.js')).createBuildProgress(io.stderr);
        // Ctrl-C hangs up on the daemon, which cancels the build's queued modules.
        const cancel = new AbortController();
        const stopListening = io.onInterrupt?.(() => cancel.abort()) ?? (() => undefined);
        let report: BuildReport;
        try {
          report = await withBackend(opts, (client) => client.build(request, progress ? (event) => progress.onEvent(event) : undefined, cancel.signal));
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
      }),
    );

  program
    .command('watch')
    .description("keep DIR's modules current as files change (registrations survive restarts)")
    .argument('<dir>', 'the tree to watch')
    .option('--base <path>', 'base BTF (default: DIR/vmlinux)')
    .option('--pahole-flags <flags>', "pahole encoding flags (default: what the tree's scripts choose)")
    .option('--json', 'print the tree status as JSON')
    .action(
      action(async (dir: string, opts: { base?: string; paholeFlags?: string; json?: boolean }) => {
        const { connectDaemon } = await import('./connect.js');
        const client = await connectDaemon(config(), { autostart: true });
        for (const text of client.notes) note(text);
        const tree = await client.watch({
          dir: path.resolve(dir),
          ...(opts.base ? { base: path.resolve(opts.base) } : {}),
          ...(opts.paholeFlags !== undefined ? { paholeFlags: opts.paholeFlags } : {}),
          pahole: await requestPahole(),
        });
        if (tree.replaced) note(describeReplaced(tree.dir, tree.replaced, tree));
        print(io.stdout, opts.json ? JSON.stringify(tree) : `watching ${tree.dir} (base ${tree.base}); \`btfd status\` shows its builds`);
        return 0;
      }),
    );
  program
    .command('unwatch')
    .description('stop watching DIR')
    .argument('<dir>', 'a watched tree')
    .action(
      action(async (dir: string) => {
        const { connectDaemon } = await import('./connect.js');
        const client = await connectDaemon(config(), { autostart: true });
        const { removed } = await client.unwatch(path.resolve(dir));
        print(io.stdout, removed ? `stopped watching ${path.resolve(dir)}` : `${path.resolve(dir)} was not watched`);
        return removed ? 0 : 1;
      }),
    );

  program
    .command('modules')
    .description("each module's state and why (which input changed)")
    .argument('[dir]', 'only modules under this dir')
    .option('--json', 'print JSON')
    .addOption(noDaemon())
    .action(
      action(async (dir: string | undefined, opts: BackendOptions & { json?: boolean }) => {
        const { modules } = await withBackend(opts, (client) => client.modules(absolute(dir)));
        print(io.stdout, opts.json ? JSON.stringify({ modules }) : formatModules(modules, absolute(dir)));
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
        const pahole = await requestPahole();
        const explanation = await withBackend(opts, (client) =>
          client.explain({
            path: path.resolve(modulePath),
            ...(opts.base ? { base: path.resolve(opts.base) } : {}),
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
    .action(action(async (dir: string, opts: BackendOptions) => withBackend(opts, async (client) => (await import('./kbuild-command.js')).kbuildCommand(config(), client, dir, await requestPahole(), io))));

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
    .description('re-hash every blob; drop corrupt ones and orphans')
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
        return result.corrupt.length + result.missing.length > 0 ? 1 : 0;
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

  return program;
}
