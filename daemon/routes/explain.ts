/** POST /v1/explain: a module's key inputs and verdict. */
import type { FastifyInstance } from 'fastify';
import { EXPLAIN_ROUTE, ExplainBody, ExplainResponse } from '../../shared/protocol/explain.js';
import type { AppDeps } from './route-deps.js';

export function registerExplainRoute(app: FastifyInstance, deps: AppDeps): void {
  app.post<{ Body: ExplainBody }>(
    EXPLAIN_ROUTE.url,
    { schema: { body: ExplainBody, response: { 200: ExplainResponse } } },
    async (request): Promise<ExplainResponse> => {
      const { path, base, paholeFlags, pahole } = request.body;
      return deps.engine.explain(path, {
        ...(base === undefined ? {} : { base }),
        ...(paholeFlags === undefined ? {} : { paholeFlags }),
        ...(pahole === undefined ? {} : { pahole }),
      });
    },
  );
}
