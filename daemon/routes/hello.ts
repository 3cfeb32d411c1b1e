/** GET /v1/hello: the handshake (see shared/protocol/hello.ts). */
import type { FastifyInstance } from 'fastify';
import { configHash } from '../../shared/config.js';
import { HELLO_ROUTE, HelloResponse } from '../../shared/protocol/hello.js';
import { DAEMON_VERSION, PROTOCOL_VERSION } from '../../shared/version.js';
import type { AppDeps } from './route-deps.js';

export function registerHelloRoute(app: FastifyInstance, deps: AppDeps): void {
  const hash = configHash(deps.config);
  app.get(HELLO_ROUTE.url, { schema: { response: { 200: HelloResponse } } }, async (): Promise<HelloResponse> => ({
    protocolVersion: PROTOCOL_VERSION,
    daemonVersion: DAEMON_VERSION,
    configHash: hash,
    pid: deps.runtime.pid,
  }));
}
