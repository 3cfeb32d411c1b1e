/** GET /v1/modules?dir=: what btfd remembers of each module. */
import type { FastifyInstance } from 'fastify';
import { MODULES_ROUTE, ModulesQuery, ModulesResponse } from '../../shared/protocol/modules.js';
import type { AppDeps } from './route-deps.js';

export function registerModulesRoute(app: FastifyInstance, deps: AppDeps): void {
  app.get<{ Querystring: ModulesQuery }>(
    MODULES_ROUTE.url,
    { schema: { querystring: ModulesQuery, response: { 200: ModulesResponse } } },
    async (request): Promise<ModulesResponse> => ({ modules: await deps.engine.listModules(request.query.dir) }),
  );
}
