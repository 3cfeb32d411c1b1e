/** `GET /v1/status`: what `btfd status` shows. */
import { Type, type Static } from '@sinclair/typebox';
import type { CacheStats, TreeStatus } from '../build-types.js';
import { CacheStatsSchema, ErrorCodeSchema } from './schemas.js';
import { TreeStatusSchema } from './watch.js';

export { STATUS_ROUTE } from './routes.js';

const LastErrorSchema = Type.Union([Type.Object({ code: Type.String(), message: Type.String(), atMs: Type.Number() }), Type.Null()]);

export const DaemonHealthSchema = Type.Object({
  /** The log file: lines written, dropped (disk full, queue full) and suppressed (repeats); null when the log is not the daemon's own. */
  log: Type.Union([
    Type.Object({ written: Type.Integer(), dropped: Type.Integer(), suppressed: Type.Integer(), lastError: LastErrorSchema }),
    Type.Null(),
  ]),
  /** A corrupt cache database this daemon moved aside (and started afresh); null when none was. */
  storeRecovery: Type.Union([
    Type.Object({ movedTo: Type.String(), code: Type.String(), reason: Type.String(), atMs: Type.Number() }),
    Type.Null(),
  ]),
});
export type DaemonHealth = Static<typeof DaemonHealthSchema>;

export const StatusResponse = Type.Object({
  pid: Type.Integer(),
  daemonVersion: Type.String(),
  protocolVersion: Type.Integer(),
  uptimeSeconds: Type.Number(),
  socketPath: Type.String(),
  logPath: Type.String(),
  cacheDir: Type.String(),
  /** True until the startup reconcile (rescan of trees, temp sweep) is done. */
  warming: Type.Boolean(),
  /** Milliseconds from process start to the end of the startup reconcile; null while warming. */
  reconcileMs: Type.Union([Type.Integer(), Type.Null()]),
  /** Milliseconds without requests before the daemon exits; 0 when idle exit is off or held. */
  idleTimeoutMs: Type.Integer(),
  /** Cache figures, or null when the cache could not be read (see cacheError). */
  cache: Type.Union([CacheStatsSchema, Type.Null()]),
  cacheError: Type.Optional(Type.String()),
  /**
   * The pahole of requests that name none (the drop-in's, and trees watched without one): its
   * name as configured, and the binary and version it resolves to, or why it does not.
   */
  pahole: Type.Object({
    name: Type.String(),
    path: Type.Union([Type.String(), Type.Null()]),
    version: Type.Union([Type.String(), Type.Null()]),
    error: Type.Union([Type.Object({ code: ErrorCodeSchema, message: Type.String() }), Type.Null()]),
  }),
  /** Watched trees with their watcher's health and last build. */
  trees: Type.Array(TreeStatusSchema),
  /** Modules btfd knows, by the outcome of their last build. */
  modules: Type.Record(Type.String(), Type.Integer()),
  /** The worker pool: threads, tasks running, tasks waiting. */
  pool: Type.Object({ size: Type.Integer(), busy: Type.Integer(), queued: Type.Integer() }),
  /** Clients listening on /v1/events. */
  eventSubscribers: Type.Integer(),
  /** The daemon's own health: its log and its cache database. */
  health: DaemonHealthSchema,
});
export type StatusResponse = Omit<Static<typeof StatusResponse>, 'trees' | 'cache'> & {
  readonly trees: readonly TreeStatus[];
  readonly cache: CacheStats | null;
};
