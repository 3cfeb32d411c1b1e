/**
 * Version identity shared by the client and the daemon, compared in the `/v1/hello` handshake.
 *
 * Plain constants (no package.json read at import time): a unit test checks that DAEMON_VERSION
 * matches package.json, so a release bump that forgets this file fails the suite.
 */

/** Bumped whenever a route, schema or NDJSON framing changes incompatibly. */
export const PROTOCOL_VERSION = 2;

/** The btfd release; a client restarts a daemon whose version differs from its own. */
export const DAEMON_VERSION = '0.1.0';
