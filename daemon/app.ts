/**
 * buildApp(deps): the daemon's HTTP application, fully wired and never listening.
 *
 * daemon/server/run.ts listens on the unix socket; tests call `app.inject()` with a fake engine.
 * Every request brackets itself for the idle timer and is refused once shutdown began.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { BtfdError } from '../shared/errors.js';
import { registerBuildRoute } from './routes/build.js';
import { registerCacheRoutes } from './routes/cache.js';
import { registerExplainRoute } from './routes/explain.js';
import { registerHelloRoute } from './routes/hello.js';
import { registerKbuildRoute } from './routes/kbuild.js';
import { registerModulesRoute } from './routes/modules.js';
import type { AppDeps } from './routes/route-deps.js';
import { registerStatusRoute } from './routes/status.js';
import { registerStopRoute } from './routes/stop.js';
import { registerEventsRoute } from './routes/events.js';
import { registerMetricsRoute } from './routes/metrics.js';
import { registerPaholeRoute } from './routes/pahole.js';
import { registerWatchRoutes } from './routes/watch.js';
import { handleClientError, installErrorHandlers } from './routes/errors.js';
import { schemaCompilers } from './server/schema-compilers.js';

/** Longest URL the daemon reads (paths travel in bodies; a URL carries at most one or two). */
export const MAX_URL_BYTES = 8 * 1024;
/** Largest request body: a build naming ~100k module paths. */
export const MAX_BODY_BYTES = 16 * 1024 * 1024;

export type { AppDeps, DaemonRuntime } from './routes/route-deps.js';

/** Build the daemon's fastify instance with every /v1 route. */
export function buildApp(deps: AppDeps): FastifyInstance {
  const log = deps.logger.child({ component: 'http' });
  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    // Request lines go out at debug from the onResponse hook below, with constant messages.
    logController: new LogController({ disableRequestLogging: true }),
    // Our own onRequest hook answers BTFD_ERR_DAEMON_SHUTTING_DOWN in the catalog's shape.
    return503OnClosing: false,
    bodyLimit: MAX_BODY_BYTES,
    // Requests node's parser refuses (a URL or headers over 16 KiB) get a catalog code too.
    clientErrorHandler: handleClientError,
    ajv: {
      // Reject unknown or mistyped fields instead of silently dropping or coercing them.
      customOptions: { removeAdditional: false, coerceTypes: false },
    },
    // Compiling every route's schemas at start was most of the daemon's start-up time.
    schemaController: { compilersFactory: schemaCompilers(deps.schemaCompilation ?? 'lazy') },
  });

  app.addHook('onRequest', async (request, reply) => {
    deps.runtime.activity.begin();
    reply.raw.once('close', () => deps.runtime.activity.end());
    if (request.url.length > MAX_URL_BYTES) {
      throw new BtfdError('BTFD_ERR_REQUEST_TOO_LARGE', `the URL is ${request.url.length} bytes; the limit is ${MAX_URL_BYTES}`);
    }
    if (deps.runtime.shuttingDown()) {
      throw new BtfdError('BTFD_ERR_DAEMON_SHUTTING_DOWN', 'the daemon is shutting down');
    }
  });
  app.addHook('onResponse', async (request, reply) => {
    log.debug({ method: request.method, url: request.url, statusCode: reply.statusCode, ms: reply.elapsedTime }, 'request completed');
  });
  installErrorHandlers(app, log);

  registerHelloRoute(app, deps);
  registerStatusRoute(app, deps);
  registerStopRoute(app, deps);
  registerBuildRoute(app, deps);
  registerExplainRoute(app, deps);
  registerModulesRoute(app, deps);
  registerCacheRoutes(app, deps);
  registerWatchRoutes(app, deps);
  registerEventsRoute(app, deps);
  registerMetricsRoute(app, deps);
  registerPaholeRoute(app, deps);
  registerKbuildRoute(app, deps);
  return app;
}
