/** `GET /v1/hello`: the handshake. A client compares all three identities before using the daemon. */
import { Type, type Static } from '@sinclair/typebox';

export { HELLO_ROUTE } from './routes.js';

export const HelloResponse = Type.Object({
  /** shared/version.ts PROTOCOL_VERSION of the daemon's build. */
  protocolVersion: Type.Integer(),
  /** shared/version.ts DAEMON_VERSION of the daemon's build. */
  daemonVersion: Type.String(),
  /** configHash() of the daemon's config. */
  configHash: Type.String(),
  pid: Type.Integer(),
});
export type HelloResponse = Static<typeof HelloResponse>;
