/** `GET /v1/cache/stats`: cache figures; `POST /v1/cache/stats/zero`: zero the counters, answering them as they were. */
import type { CacheStats } from '../build-types.js';
import { CacheStatsSchema } from './schemas.js';

export { CACHE_STATS_ROUTE, CACHE_ZERO_ROUTE } from './routes.js';

export const CacheStatsResponse = CacheStatsSchema;
export type CacheStatsResponse = CacheStats;
