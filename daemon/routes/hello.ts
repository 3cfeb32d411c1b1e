/** GET /v1/hello: the handshake (see shared/protocol/hello.ts). */
import fs from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { describeRemote } from '../../shared/config.js';
import { HELLO_ROUTE, HelloResponse } from '../../shared/protocol/hello.js';
import { DAEMON_VERSION, PROTOCOL_VERSION } from '../../shared/version.js';
import type { AppDeps } from './route-deps.js';

export function registerHelloRoute(app: FastifyInstance, deps: AppDeps): void {
  const { config } = deps;
  app.get(HELLO_ROUTE.url, { schema: { response: { 200: HelloResponse } } }, async (): Promise<HelloResponse> => ({
    protocolVersion: PROTOCOL_VERSION,
    daemonVersion: DAEMON_VERSION,
    pid: deps.runtime.pid,
    // The real path, so a client naming the same cache through a symlink agrees.
    cacheDir: await fs.promises.realpath(config.cacheDir).catch(() => config.cacheDir),
    workers: config.workers,
    maxCacheBytes: config.maxCacheBytes,
    pahole: config.pahole,
    remote: describeRemote(config.remote),
  }));
}
