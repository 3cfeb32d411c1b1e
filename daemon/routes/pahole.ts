/** POST /v1/pahole: a module BTF request from the btfd-pahole drop-in. */
import type { FastifyInstance } from 'fastify';
import { BtfdError } from '../../shared/errors.js';
import { PAHOLE_ROUTE, PaholeBody, PaholeResponse } from '../../shared/protocol/pahole.js';
import { parsePaholeModuleArgv } from '../engine/pahole-argv.js';
import type { AppDeps } from './route-deps.js';

export function registerPaholeRoute(app: FastifyInstance, deps: AppDeps): void {
  app.post<{ Body: PaholeBody }>(
    PAHOLE_ROUTE.url,
    { schema: { body: PaholeBody, response: { 200: PaholeResponse } } },
    async (request): Promise<PaholeResponse> => {
      const parsed = parsePaholeModuleArgv(request.body.args, request.body.cwd);
      if (!parsed) throw new BtfdError('BTFD_ERR_SHIM_UNHANDLED', 'not a module BTF request: run the real pahole');
      const result = await deps.engine.encodeForPahole(parsed);
      // The shim runs the real pahole on any error, so its exit status and stderr stay pahole's own.
      if (result.error) throw new BtfdError(result.error.code, result.error.message);
      // In place, the engine leaves the module newer than vmlinux whatever the outcome.
      return { result, touched: parsed.detachedOut === null };
    },
  );
}
