/**
 * The one-off measurements behind docs/reliability.md that are not pass/fail tests:
 *
 *   node dist/test/stress/measure.js huge-tree --dirs 200000 [--max-dirs N]
 *     a generated tree of DIRS empty dirs (shaped N × 500) plus the fixture's vmlinux, watched by
 *     a real daemon: the outcome, how long watch (and unwatch) took, the daemon's RSS, the slowest
 *     hello meanwhile, the log's size.
 *   node --expose-gc dist/test/stress/measure.js chokidar --dirs 10000
 *     tree-watcher.ts alone on such a tree: time to ready, the longest event-loop block, RSS.
 *   node dist/test/stress/measure.js orphan --times 5
 *     how long a daemon takes to exit after its home is rm -rf'd or its socket unlinked.
 */
import fs from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { connectDaemon, waitForExit } from '../../client/connect.js';
import { requestHello } from '../../client/daemon-client.js';
import { createTreeWatcher } from '../../daemon/watch/tree-watcher.js';
import { resolveConfig } from '../../shared/config.js';
import { createFixtureKernel } from '../fixtures/fixture-kernel.js';
import { cleanEnv } from '../helpers/daemon-home.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { dirs: { type: 'string', default: '10000' }, 'max-dirs': { type: 'string' }, times: { type: 'string', default: '5' } },
});

const mb = (bytes: number): number => Math.round(bytes / 1048576);

/** A scratch dir with a tree of `count` empty dirs (⌈count/500⌉ × 500) and a real vmlinux. */
async function makeTree(count: number): Promise<string> {
  const root = fs.mkdtempSync('/tmp/btfd-measure-');
  const kernel = await createFixtureKernel(path.join(root, 'k'));
  const tree = path.join(root, 'tree');
  for (let i = 0; i < count; i += 1) fs.mkdirSync(path.join(tree, `d${Math.floor(i / 500)}`, `e${i % 500}`), { recursive: true });
  fs.copyFileSync(kernel.vmlinux, path.join(tree, 'vmlinux'));
  return tree;
}

async function hugeTree(): Promise<object> {
  const tree = await makeTree(Number(values.dirs));
  const home = fs.mkdtempSync('/tmp/btfd-measure-home-');
  const env = cleanEnv({ BTFD_HOME: home, ...(values['max-dirs'] ? { BTFD_WATCH_MAX_DIRS: values['max-dirs'] } : {}) });
  const config = resolveConfig({ env, flags: {} });
  const client = await connectDaemon(config, { autostart: true, env });
  const pid = client.identity.pid;
  const rss = (): number => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;
  const before = rss();
  let slowestHelloMs = 0;
  let stop = false;
  const prober = (async () => {
    while (!stop) {
      const started = Date.now();
      await requestHello(config.socketPath, 120_000);
      slowestHelloMs = Math.max(slowestHelloMs, Date.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  const started = Date.now();
  let outcome: string;
  try {
    await client.watch({ dir: tree });
    outcome = 'watched';
  } catch (err) {
    outcome = String((err as { code?: unknown }).code);
  }
  const watchMs = Date.now() - started;
  const afterWatch = rss();
  let unwatchMs: number | null = null;
  if (outcome === 'watched') {
    const t = Date.now();
    await client.unwatch(tree);
    unwatchMs = Date.now() - t;
  }
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const afterUnwatch = rss();
  stop = true;
  await prober;
  const logBytes = fs.statSync(config.logPath).size;
  await client.stop();
  await waitForExit(pid, 10_000);
  fs.rmSync(path.dirname(tree), { recursive: true, force: true });
  fs.rmSync(home, { recursive: true, force: true });
  return { dirs: Number(values.dirs), outcome, watchMs, unwatchMs, rssMb: { before: Math.round(before), afterWatch: Math.round(afterWatch), afterUnwatch: Math.round(afterUnwatch) }, slowestHelloMs, logBytes };
}

async function chokidarAlone(): Promise<object> {
  const tree = await makeTree(Number(values.dirs));
  const gc = (globalThis as { gc?: () => void }).gc;
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const rss0 = process.memoryUsage().rss;
  const started = Date.now();
  const watcher = createTreeWatcher({ dir: tree, base: path.join(tree, 'vmlinux'), settleMs: 250, ignoredDirs: [], onChange: () => {}, onError: () => {} });
  await watcher.ready;
  const readyMs = Date.now() - started;
  const longestBlockMs = Math.round(delay.max / 1e6);
  const rss1 = process.memoryUsage().rss;
  await watcher.close();
  gc?.();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  gc?.();
  delay.disable();
  const result = { dirs: Number(values.dirs), readyMs, longestBlockMs, rssMb: { before: mb(rss0), ready: mb(rss1), afterClose: mb(process.memoryUsage().rss) }, heapUsedMb: mb(process.memoryUsage().heapUsed) };
  fs.rmSync(path.dirname(tree), { recursive: true, force: true });
  return result;
}

async function orphan(): Promise<object> {
  const results: object[] = [];
  for (let i = 0; i < Number(values.times); i += 1) {
    const home = fs.mkdtempSync('/tmp/btfd-orph-');
    const env = cleanEnv({ BTFD_HOME: home, BTFD_IDLE_TIMEOUT_MS: '0' });
    const config = resolveConfig({ env, flags: {} });
    const client = await connectDaemon(config, { autostart: true, env });
    const started = Date.now();
    const how = i % 2 === 0 ? 'rm -rf home' : 'unlink socket';
    if (how === 'rm -rf home') fs.rmSync(home, { recursive: true, force: true });
    else fs.unlinkSync(config.socketPath);
    const exited = await waitForExit(client.identity.pid, 20_000);
    results.push({ how, exited, ms: Date.now() - started });
    fs.rmSync(home, { recursive: true, force: true });
  }
  return results;
}

process.env['LLVM_OBJCOPY'] ??= 'objcopy';
const what = positionals[0];
const run = what === 'huge-tree' ? hugeTree : what === 'chokidar' ? chokidarAlone : what === 'orphan' ? orphan : null;
if (run === null) {
  process.stderr.write('usage: measure.js huge-tree|chokidar|orphan [--dirs N] [--max-dirs N] [--times N]\n');
  process.exit(2);
}
process.stdout.write(`${JSON.stringify(await run())}\n`);
