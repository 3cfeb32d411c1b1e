/**
 * What the routes need from the daemon, injected by buildApp(): tests pass a fake engine and a
 * plain runtime object instead of patching anything.
 */
import type { Logger } from 'pino';
import type { Config } from '../../shared/config.js';
import type { DaemonHealth } from '../../shared/protocol/status.js';
import type { Engine } from '../engine/engine.js';
import type { CacheAdmin } from '../store/cache-admin.js';
import type { EventBus } from '../events/event-bus.js';
import type { SchemaCompilation } from '../server/schema-compilers.js';
import type { WatchEvent, WatchManager } from '../watch/watch-manager.js';

/** The running daemon's state as the routes see it. */
export interface DaemonRuntime {
  readonly pid: number;
  readonly startedAtMs: number;
  /** True until the startup reconcile is done. */
  warming(): boolean;
  /** Milliseconds from process start to the end of the startup reconcile; null while warming. */
  reconcileMs(): number | null;
  /** True once shutdown has begun: new requests are refused. */
  shuttingDown(): boolean;
  /** Ask the daemon to shut down once the current answer has been sent. */
  requestStop(): void;
  /** The log's and the store's health; both null when not given (tests). */
  health?(): DaemonHealth;
  /** The idle timer's view: requests bracket themselves with begin()/end(). */
  readonly activity: {
    begin(): void;
    end(): void;
    effectiveTimeoutMs(): number;
  };
}

/** Everything buildApp() needs. */
export interface AppDeps {
  readonly config: Config;
  readonly engine: Engine;
  /** Cache figures and maintenance. */
  readonly cache: CacheAdmin;
  /** Watched trees. */
  readonly watch: WatchManager;
  /** Events for `/v1/events` subscribers. */
  readonly events: EventBus<WatchEvent>;
  /** The root logger; the app logs through `child({ component: 'http' })`. */
  readonly logger: Logger;
  readonly runtime: DaemonRuntime;
  /** The clock (ms since the epoch); Date.now by default. */
  readonly now?: () => number;
  /**
   * When the routes' validators and serializers are compiled: on each one's first use (the
   * default, see daemon/server/schema-compilers.ts), or each when its route is added.
   */
  readonly schemaCompilation?: SchemaCompilation;
}
