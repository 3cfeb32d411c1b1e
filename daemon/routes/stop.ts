/** POST /v1/stop: answer, then shut down (the answer is sent before the teardown drains). */
import type { FastifyInstance } from 'fastify';
import { STOP_ROUTE, StopResponse } from '../../shared/protocol/stop.js';
import type { AppDeps } from './route-deps.js';

export function registerStopRoute(app: FastifyInstance, deps: AppDeps): void {
  app.post(STOP_ROUTE.url, { schema: { response: { 200: StopResponse } } }, async (_request, reply): Promise<StopResponse> => {
    // Shut down only once this answer is on the wire: the teardown waits for in-flight requests,
    // this one included.
    reply.raw.once('finish', () => deps.runtime.requestStop());
    return { stopping: true, pid: deps.runtime.pid };
  });
}
