/** `GET /v1/cache/stats`: cache figures. */
import type { CacheStats } from '../build-types.js';
import { CacheStatsSchema } from './schemas.js';

export const CACHE_STATS_ROUTE = { method: 'GET', url: '/v1/cache/stats' } as const;

export const CacheStatsResponse = CacheStatsSchema;
export type CacheStatsResponse = CacheStats;
