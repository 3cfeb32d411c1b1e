/**
 * runDaemon(): bring one daemon up on its unix socket, and own its teardown.
 *
 * Order: private dirs → log file → home lock (see daemon-lock.ts) and the cache dir's lock (see
 * store/cache-owner.ts) → store (a corrupt database is moved aside, see store.ts) → remote cache
 * tier (connects lazily) → engine → listen (socket 0600) → home guard (stops an orphaned daemon,
 * see home-guard.ts) → reconcile in the background (`warming` until it resolves) → idle timer.
 * Teardown (one idempotent function, see shutdown.ts): stop accepting and drain in-flight
 * requests → close watchers → close the engine (its builds finish, then the pool) → drain the
 * remote uploads (bounded by UPLOAD_DRAIN_MS) and close its connections → close the store →
 * release the lock last, so a successor can only start once this daemon no longer touches the
 * store. The log (log-sink.ts) is flushed and closed after the teardown's last line.
 *
 * Takes no `process`: main.ts passes the pid and turns the shutdown reason into an exit code.
 */
import fs from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../../shared/config.js';
import { toBtfdError } from '../../shared/errors.js';
import { buildApp } from '../app.js';
import type { Engine } from '../engine/engine.js';
import { createCacheAdmin } from '../store/cache-admin.js';
import { openRemoteTier } from '../store/remote/open-remote.js';
import type { RemoteTier } from '../store/remote/remote-tier.js';
import { openStore, type Store } from '../store/store.js';
import type { DaemonRuntime } from '../routes/route-deps.js';
import { createWatchManager, type WatchEvent } from '../watch/watch-manager.js';
import { acquireCacheOwner, type CacheOwner } from '../store/cache-owner.js';
import { acquireDaemonLock, type AcquireOptions } from './daemon-lock.js';
import { createEventBus } from '../events/event-bus.js';
import { createIdleTimer, type IdleTimer } from './idle-timer.js';
import { createLogger } from './logger.js';
import { startHomeGuard, type HomeGuard } from './home-guard.js';
import { preparePrivateDirs } from './private-dirs.js';
import { createShutdown, type ShutdownReason, type ShutdownStep } from './shutdown.js';

const SOCKET_MODE = 0o600;
/** Quiet time after the last file event before a watched tree is rebuilt. */
const WATCH_SETTLE_MS = 250;
/** Stat rescan of watched trees, for events the watcher missed. */
const WATCH_RESCAN_MS = 5 * 60 * 1000;
const LOG_FILE_MODE = 0o600;
/** How long shutdown waits for queued remote uploads; the rest are dropped (counted, logged). */
export const UPLOAD_DRAIN_MS = 10_000;

/** How the daemon gets its engine: `createEngine` from daemon/engine/engine.ts, or a fake. */
export type EngineFactory = (options: {
  readonly config: Config;
  readonly logger: Logger;
  readonly store: Store;
  /** The remote cache tier behind the store, when one is configured. */
  readonly remote: RemoteTier | null;
}) => Engine;

export interface RunDaemonOptions {
  readonly config: Config;
  readonly createEngine: EngineFactory;
  /** This process's pid (main.ts passes process.pid). */
  readonly pid: number;
  /** Watch settle time and rescan period (tests shorten them). */
  readonly watchTiming?: { readonly settleMs: number; readonly rescanMs: number };
  /** The root logger; by default one writing to config.logPath. */
  readonly logger?: Logger;
  /** The default logger also writes to stdout (the daemon runs in the foreground). */
  readonly logToStdout?: boolean;
  /** How often the socket and home are checked for removal (home-guard.ts). */
  readonly homeCheckMs?: number;
  /** How long to wait for a lock holder that is starting or stopping. */
  readonly lockWaitMs?: number;
  /**
   * A private one-shot daemon (the CLI's `--no-daemon`): it listens on this socket instead of the
   * home's, takes no home lock (the store is safe to share with the home's daemon), watches no
   * trees and never idles out; its parent ends it.
   */
  readonly oneshotSocket?: string;
}

/** A daemon that is listening. */
export interface RunningDaemon {
  readonly pid: number;
  readonly socketPath: string;
  readonly app: FastifyInstance;
  readonly engine: Engine;
  readonly logger: Logger;
  /** Hold the idle timer off (watching trees); call the returned function to release. */
  readonly holdIdle: IdleTimer['hold'];
  /** Start the teardown; the first reason wins and every call returns the same promise. */
  shutdown(reason: ShutdownReason): Promise<ShutdownReason>;
  /** Settles with the reason once the teardown is complete. */
  readonly stopped: Promise<ShutdownReason>;
  /** Settles when the startup reconcile is done (whether it succeeded or not). */
  readonly reconciled: Promise<void>;
  /** Write queued log lines now (main.ts, before an exit that skips the teardown). */
  flushLog(): void;
}

/** The home's lock, then the cache dir's; released in the reverse order. */
async function acquireLocks(config: Config, pid: number, options: AcquireOptions): Promise<{ release(): Promise<void> }> {
  const home = await acquireDaemonLock(config.socketPath, options);
  let cache: CacheOwner;
  try {
    cache = acquireCacheOwner(config.cacheDir, pid);
  } catch (err) {
    await home.release();
    throw err;
  }
  return {
    async release() {
      cache.release();
      await home.release();
    },
  };
}

/**
 * Start the daemon: returns once it listens. Throws (having released everything it took) when
 * it cannot start; BTFD_ERR_DAEMON_ALREADY_RUNNING means another daemon owns the home.
 */
export async function runDaemon(options: RunDaemonOptions): Promise<RunningDaemon> {
  const { config, pid } = options;
  preparePrivateDirs(config);
  const ownLog = options.logger === undefined ? createLogger({ logPath: config.logPath, level: config.logLevel, pid, stdout: options.logToStdout === true }) : null;
  const logger = options.logger ?? ownLog!.logger;
  if (ownLog !== null) fs.chmodSync(config.logPath, LOG_FILE_MODE);
  const log = logger.child({ component: 'daemon' });

  const socketPath = options.oneshotSocket ?? config.socketPath;
  let lock: { release(): Promise<void> };
  try {
    lock = options.oneshotSocket !== undefined ? { release: async () => fs.rmSync(socketPath, { force: true }) } : await acquireLocks(config, pid, {
      ...(options.lockWaitMs === undefined ? {} : { waitMs: options.lockWaitMs }),
      onStaleSocket: (socketPath) => log.warn({ socketPath }, 'stale socket from a dead daemon removed'),
    });
  } catch (err) {
    const error = toBtfdError(err);
    log.warn({ code: error.code, detail: error.message, socketPath: config.socketPath }, 'daemon lock not acquired');
    ownLog?.close();
    throw err;
  }

  let store: Store;
  let engine: Engine;
  try {
    store = openStore({
      dir: config.cacheDir,
      onRecovered: (recovery) => log.error({ code: recovery.code, movedTo: recovery.movedTo, reason: recovery.reason }, 'cache database corrupt: moved aside, started a fresh one'),
    });
  } catch (err) {
    log.error({ err }, 'cache store failed to open');
    await lock.release();
    ownLog?.close();
    throw err;
  }
  // Remote failures are values from here on; opening it makes no request.
  const remote = config.remote === null ? null : openRemoteTier({ config: config.remote, count: (name, by) => store.counters.add(name, by), logger });
  try {
    engine = options.createEngine({ config, logger, store, remote });
  } catch (err) {
    log.error({ err }, 'engine failed to start');
    await remote?.close();
    store.close();
    await lock.release();
    ownLog?.close();
    throw err;
  }

  const events = createEventBus<WatchEvent>();
  const watch = createWatchManager({
    engine,
    registry: store.trees,
    logger,
    settleMs: options.watchTiming?.settleMs ?? WATCH_SETTLE_MS,
    rescanMs: options.watchTiming?.rescanMs ?? WATCH_RESCAN_MS,
    // Never watch btfd's own state: its writes there are not the tree's.
    ignoredDirs: [config.cacheDir, config.stateDir, config.runtimeDir],
    maxDirs: config.watchMaxDirs,
    publish: (event) => events.publish(event),
    // Watching trees is work the daemon does between requests: no idle exit meanwhile.
    onTreesChanged: (count) => {
      if (count > 0) releaseIdle ??= idle.hold();
      else if (releaseIdle) {
        releaseIdle();
        releaseIdle = null;
      }
    },
  });
  let releaseIdle: (() => void) | null = null;

  let warming = true;
  let reconcileMs: number | null = null;
  const startedAtMs = Date.now();
  // Late-bound: the steps reference the app, built below with a runtime that calls shutdown.
  let app: FastifyInstance | undefined;
  let homeGuard: HomeGuard | null = null;
  const steps = (): ShutdownStep[] => [
    { name: 'idle timer', run: () => idle.stop() },
    { name: 'home guard', run: () => homeGuard?.stop() },
    { name: 'event streams', run: () => events.close() },
    { name: 'http server', run: async () => { await app?.close(); } },
    { name: 'watchers', run: () => watch.close() },
    { name: 'engine', run: () => engine.close() },
    { name: 'remote uploads', run: () => drainUploads() },
    { name: 'remote cache', run: () => remote?.close() },
    { name: 'store', run: () => store.close() },
    { name: 'lock', run: () => lock.release() },
  ];
  const drainUploads = async (): Promise<void> => {
    if (remote === null) return;
    const pending = remote.status().uploads;
    if (pending.queued + pending.running === 0) return;
    log.info({ queued: pending.queued, running: pending.running, drainMs: UPLOAD_DRAIN_MS }, 'waiting for remote uploads');
    const complete = await remote.drain(UPLOAD_DRAIN_MS);
    const after = remote.status().uploads;
    if (complete) log.info({ done: after.done, failed: after.failed }, 'remote uploads drained');
    else log.warn({ dropped: after.dropped, running: after.running, drainMs: UPLOAD_DRAIN_MS }, 'remote uploads not finished in time; the rest were dropped');
  };
  const shutdown = createShutdown(steps, log);
  // The log closes after the teardown's last line ("shutdown complete"), before main.ts exits.
  void shutdown.completed.then(() => ownLog?.close());
  const idle = createIdleTimer({
    timeoutMs: options.oneshotSocket !== undefined ? 0 : config.idleTimeoutMs,
    onIdle: () => {
      log.info({ idleTimeoutMs: config.idleTimeoutMs }, 'idle timeout reached');
      void shutdown({ kind: 'idle' });
    },
  });
  const runtime: DaemonRuntime = {
    pid,
    startedAtMs,
    warming: () => warming,
    reconcileMs: () => reconcileMs,
    shuttingDown: () => shutdown.started(),
    requestStop: () => {
      log.info({}, 'stop requested');
      void shutdown({ kind: 'request' });
    },
    activity: idle,
    health: () => ({ log: ownLog?.health() ?? null, storeRecovery: store.recovery }),
  };
  app = buildApp({ config, engine, cache: createCacheAdmin(store, config.maxCacheBytes, remote), watch, events, logger, runtime });

  try {
    await app.listen({ path: socketPath });
    fs.chmodSync(socketPath, SOCKET_MODE);
  } catch (err) {
    log.error({ err, socketPath }, 'listen failed');
    await shutdown({ kind: 'fatal', error: err });
    ownLog?.close();
    throw err;
  }
  homeGuard = startHomeGuard({
    socketPath,
    dirs: [config.runtimeDir, config.stateDir],
    ...(options.homeCheckMs === undefined ? {} : { intervalMs: options.homeCheckMs }),
    onOrphaned: (what) => {
      log.warn({ what }, 'socket or home removed: this daemon can no longer be reached, stopping');
      void shutdown({ kind: 'orphaned', what });
    },
  });
  log.info({
    socketPath, workers: config.workers, cacheDir: config.cacheDir, oneshot: options.oneshotSocket !== undefined, remoteCache: remote?.location ?? null,
  }, 'daemon listening');

  const reconciled = (async () => {
    try {
      // Resume watching registered trees; each one's first build reconciles what changed meanwhile.
      if (options.oneshotSocket === undefined) await watch.restore();
      log.info({ ms: Date.now() - startedAtMs }, 'reconcile done');
    } catch (err) {
      log.error({ err }, 'reconcile failed');
    } finally {
      warming = false;
      // Since the process started (performance.timeOrigin), so node's own startup is counted too.
      reconcileMs = Math.round(Date.now() - performance.timeOrigin);
    }
  })();
  idle.start();

  return {
    pid,
    socketPath,
    app,
    engine,
    logger,
    holdIdle: idle.hold,
    shutdown,
    stopped: shutdown.completed,
    reconciled,
    flushLog: () => ownLog?.flush(),
  };
}
