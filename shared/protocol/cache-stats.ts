/** `GET /v1/cache/stats`: cache figures. */
import { type Static } from '@sinclair/typebox';
import { CacheStatsSchema } from './schemas.js';

export const CACHE_STATS_ROUTE = { method: 'GET', url: '/v1/cache/stats' } as const;

export const CacheStatsResponse = CacheStatsSchema;
export type CacheStatsResponse = Static<typeof CacheStatsResponse>;
