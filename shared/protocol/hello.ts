/**
 * `GET /v1/hello`: the handshake. A client restarts a daemon whose versions or cache dir differ
 * from its own (see client/connect.ts); the process settings are there for it to note.
 */
import { Type, type Static } from '@sinclair/typebox';

export { HELLO_ROUTE } from './routes.js';

export const HelloResponse = Type.Object({
  /** shared/version.ts PROTOCOL_VERSION of the daemon's build. */
  protocolVersion: Type.Integer(),
  /** shared/version.ts DAEMON_VERSION of the daemon's build. */
  daemonVersion: Type.String(),
  pid: Type.Integer(),
  /** The real path of the daemon's cache dir. */
  cacheDir: Type.String(),
  /** Worker pool size. */
  workers: Type.Integer(),
  /** The cache size limit builds evict to. */
  maxCacheBytes: Type.Integer(),
  /** The pahole of requests that name none (the drop-in's): a path, or a name on the daemon's PATH. */
  pahole: Type.String(),
  /** The remote cache tier it shares (where, and whether read-only; never credentials), or null. */
  remote: Type.Union([Type.String(), Type.Null()]),
});
export type HelloResponse = Static<typeof HelloResponse>;
