/** POST /v1/watch, POST /v1/unwatch, GET /v1/trees: the trees the daemon keeps current. */
import type { FastifyInstance } from 'fastify';
import {
  TREES_ROUTE, TreesResponse, UNWATCH_ROUTE, UnwatchBody, UnwatchResponse, WATCH_ROUTE, WatchBody, WatchResponse,
} from '../../shared/protocol/watch.js';
import type { AppDeps } from './route-deps.js';

export function registerWatchRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.post<{ Body: WatchBody }>(
    WATCH_ROUTE.url,
    { schema: { body: WatchBody, response: { 200: WatchResponse } } },
    async (request): Promise<WatchResponse> => {
      const { dir, base, paholeFlags, pahole } = request.body;
      return deps.watch.add({
        dir, ...(base ? { base } : {}), ...(paholeFlags !== undefined ? { paholeFlags } : {}), ...(pahole !== undefined ? { pahole } : {}),
      });
    },
  );
  app.post<{ Body: UnwatchBody }>(
    UNWATCH_ROUTE.url,
    { schema: { body: UnwatchBody, response: { 200: UnwatchResponse } } },
    async (request): Promise<UnwatchResponse> => ({ removed: await deps.watch.remove(request.body.dir) }),
  );
  app.get(TREES_ROUTE.url, { schema: { response: { 200: TreesResponse } } }, async (): Promise<TreesResponse> => ({
    trees: deps.watch.list(),
  }));
}
