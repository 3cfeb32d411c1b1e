/** POST /v1/kbuild/check: `btfd kbuild`'s checks of a kernel build dir. */
import type { FastifyInstance } from 'fastify';
import { KBUILD_CHECK_ROUTE, KbuildCheckBody, KbuildCheckResponse, type TreeCheck } from '../../shared/protocol/kbuild.js';
import type { AppDeps } from './route-deps.js';

export function registerKbuildRoute(app: FastifyInstance, deps: AppDeps): void {
  app.post<{ Body: KbuildCheckBody }>(
    KBUILD_CHECK_ROUTE.url,
    { schema: { body: KbuildCheckBody, response: { 200: KbuildCheckResponse } } },
    async (request): Promise<TreeCheck> => deps.engine.checkKbuildTree(request.body.dir, request.body.pahole),
  );
}
