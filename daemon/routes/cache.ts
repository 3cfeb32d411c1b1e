/** The cache routes: GET /v1/cache/stats, POST /v1/cache/gc, /v1/cache/verify, /v1/cache/clear. */
import type { FastifyInstance } from 'fastify';
import { CACHE_CLEAR_ROUTE, CacheClearResponse } from '../../shared/protocol/cache-clear.js';
import { CACHE_GC_ROUTE, CacheGcBody, CacheGcResponse } from '../../shared/protocol/cache-gc.js';
import { CACHE_STATS_ROUTE, CACHE_ZERO_ROUTE, CacheStatsResponse } from '../../shared/protocol/cache-stats.js';
import { CACHE_VERIFY_ROUTE, CacheVerifyResponse } from '../../shared/protocol/cache-verify.js';
import type { AppDeps } from './route-deps.js';

export function registerCacheRoutes(app: FastifyInstance, deps: AppDeps): void {
  const { cache } = deps;
  app.get(CACHE_STATS_ROUTE.url, { schema: { response: { 200: CacheStatsResponse } } },
    async (): Promise<CacheStatsResponse> => cache.stats());
  app.post(CACHE_ZERO_ROUTE.url, { schema: { response: { 200: CacheStatsResponse } } },
    async (): Promise<CacheStatsResponse> => cache.zeroStats());

  app.post<{ Body: CacheGcBody }>(
    CACHE_GC_ROUTE.url,
    {
      schema: { body: CacheGcBody, response: { 200: CacheGcResponse } },
      // `curl -X POST …/gc` with no body means "gc to the configured size".
      preValidation: async (request) => {
        request.body ??= {};
      },
    },
    async (request): Promise<CacheGcResponse> => cache.gc(request.body.maxBytes),
  );

  app.post(CACHE_VERIFY_ROUTE.url, { schema: { response: { 200: CacheVerifyResponse } } },
    async (): Promise<CacheVerifyResponse> => cache.verify());

  app.post(CACHE_CLEAR_ROUTE.url, { schema: { response: { 200: CacheClearResponse } } },
    async (): Promise<CacheClearResponse> => {
      cache.clear();
      return { cleared: true };
    });
}
