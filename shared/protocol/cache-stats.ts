/** `GET /v1/cache/stats`: cache figures. */
import type { CacheStats } from '../build-types.js';
import { CacheStatsSchema } from './schemas.js';

export { CACHE_STATS_ROUTE } from './routes.js';

export const CacheStatsResponse = CacheStatsSchema;
export type CacheStatsResponse = CacheStats;
