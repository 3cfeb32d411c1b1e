/** `GET /v1/status`: what `btfd status` shows. */
import { Type, type Static } from '@sinclair/typebox';
import type { CacheStats, TreeStatus } from '../build-types.js';
import { CacheStatsSchema, ErrorCodeSchema } from './schemas.js';
import { TreeStatusSchema } from './watch.js';

export { STATUS_ROUTE } from './routes.js';

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
});
export type StatusResponse = Omit<Static<typeof StatusResponse>, 'trees' | 'cache'> & {
  readonly trees: readonly TreeStatus[];
  readonly cache: CacheStats | null;
};
