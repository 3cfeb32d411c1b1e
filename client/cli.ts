/**
 * The `btfd` command line. Commands are thin: they resolve the config once, then either talk to
 * the daemon or (with `--no-daemon`) run the engine in this process, and print short text or
 * `--json`. Exit status: 0 ok, 1 when a module failed, 2 when the command itself could not run.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import path from 'node:path';
import { pino } from 'pino';
import type { BuildReport, BuildRequest } from '../shared/build-types.js';
import { parseSize, resolveConfig, type Config } from '../shared/config.js';
import { BtfdError, toBtfdError } from '../shared/errors.js';
import { DAEMON_VERSION } from '../shared/version.js';
import { createEngine } from '../daemon/engine/engine.js';
import type { Engine } from '../daemon/engine/engine-types.js';
import { createBuildProgress } from './build-progress.js';
import { formatBuildReport, formatBytes, formatCacheStats, formatError, formatExplanation } from './format.js';

/** Exit status when a command could not run at all (as opposed to a module failing). */
const EXIT_USAGE = 2;

interface Io {
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
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

/** Run `work` with an in-process engine, closing it however work ends. */
async function withEngine<T>(config: Config, work: (engine: Engine) => Promise<T>): Promise<T> {
  const engine = createEngine({ config, logger: pino({ level: 'silent' }) });
  try {
    return await work(engine);
  } finally {
    await engine.close();
  }
}

async function runBuild(config: Config, request: BuildRequest, json: boolean, io: Io): Promise<number> {
  const progress = json ? null : createBuildProgress(io.stderr);
  let report: BuildReport;
  try {
    report = await withEngine(config, (engine) => engine.build(request, (event) => progress?.onEvent(event)));
  } finally {
    progress?.stop();
  }
  print(io.stdout, json ? JSON.stringify(report) : formatBuildReport(report));
  return report.failed > 0 ? 1 : 0;
}

/** Build the commander program; `run` resolves with the exit code. */
export function buildProgram(env: NodeJS.ProcessEnv, io: Io, setExitCode: (code: number) => void): Command {
  const program = new Command('btfd')
    .description('Incremental build daemon and content-addressed cache for Linux kernel module BTF')
    .version(DAEMON_VERSION)
    .option('--pahole <path>', 'pahole binary to use (default: BTFD_PAHOLE, then pahole on PATH)')
    .option('--workers <n>', 'pahole processes at once (default: number of cores)')
    .showHelpAfterError();
  program.configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });

  const config = (extra: Record<string, unknown> = {}): Config =>
    resolveConfig({ env, flags: { ...program.opts(), ...extra } });

  const action =
    <A extends unknown[]>(fn: (...args: A) => Promise<number>) =>
    async (...args: A): Promise<void> => {
      try {
        setExitCode(await fn(...args));
      } catch (err) {
        print(io.stderr, formatError(err instanceof BtfdError ? err : toBtfdError(err)));
        setExitCode(EXIT_USAGE);
      }
    };

  program
    .command('build')
    .description('bring every module under DIR up to date now')
    .argument('[dir]', 'the tree: a kernel build dir, or any dir with a base and .ko files', '.')
    .option('--base <path>', 'base BTF: a vmlinux or a raw BTF file (default: DIR/vmlinux)')
    .option('--pahole-flags <flags>', 'pahole encoding flags (default: what the tree\'s scripts choose)')
    .option('--json', 'print one JSON object instead of text')
    .option('--no-daemon', 'run the engine in this process instead of asking the daemon')
    .action(
      action(async (dir: string, opts: { base?: string; paholeFlags?: string; json?: boolean }) => {
        const request: BuildRequest = {
          dir: path.resolve(dir),
          ...(opts.base ? { base: path.resolve(opts.base) } : {}),
          ...(opts.paholeFlags !== undefined ? { paholeFlags: opts.paholeFlags } : {}),
        };
        return runBuild(config(), request, opts.json === true, io);
      }),
    );

  program
    .command('explain')
    .description("show a module's cache key inputs, their digests, and the cache's verdict")
    .argument('<module>', 'a .ko file')
    .option('--base <path>', 'base BTF (default: the one of its last build, else the nearest vmlinux)')
    .option('--pahole-flags <flags>', 'pahole flags (default: those of its last build)')
    .option('--json', 'print JSON')
    .action(
      action(async (modulePath: string, opts: { base?: string; paholeFlags?: string; json?: boolean }) => {
        const explanation = await withEngine(config(), (engine) =>
          engine.explain(path.resolve(modulePath), {
            ...(opts.base ? { base: path.resolve(opts.base) } : {}),
            ...(opts.paholeFlags !== undefined ? { paholeFlags: opts.paholeFlags } : {}),
          }),
        );
        print(io.stdout, opts.json ? JSON.stringify(explanation) : formatExplanation(explanation));
        return 0;
      }),
    );

  const cache = program.command('cache').description('inspect and maintain the cache');
  cache
    .command('stats')
    .option('--json', 'print JSON')
    .action(
      action(async (opts: { json?: boolean }) => {
        const stats = await withEngine(config(), async (engine) => engine.cacheStats());
        print(io.stdout, opts.json ? JSON.stringify(stats) : formatCacheStats(stats));
        return 0;
      }),
    );
  cache
    .command('gc')
    .description('evict least recently used entries until the cache fits')
    .addOption(new Option('--max-size <size>', 'size limit, e.g. 500M or 2G (default: the configured limit)').argParser(parseSizeOption))
    .action(
      action(async (opts: { maxSize?: number }) => {
        const result = await withEngine(config(), async (engine) => engine.cacheGc(opts.maxSize));
        print(io.stdout, `removed ${result.removedEntries} entries, ${formatBytes(result.removedBytes)}`);
        return 0;
      }),
    );
  cache
    .command('verify')
    .description('re-hash every blob; drop corrupt ones and orphans')
    .option('--json', 'print JSON')
    .action(
      action(async (opts: { json?: boolean }) => {
        const result = await withEngine(config(), async (engine) => engine.cacheVerify());
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
    .action(
      action(async () => {
        await withEngine(config(), async (engine) => engine.cacheClear());
        print(io.stdout, 'cache cleared');
        return 0;
      }),
    );

  return program;
}
