/** `POST /v1/cache/gc`: evict least recently used entries until the cache fits `maxBytes`. */
import { Type, type Static } from '@sinclair/typebox';
import type { CacheGcResult } from '../build-types.js';
import { CacheGcResultSchema } from './schemas.js';

export { CACHE_GC_ROUTE } from './routes.js';

export const CacheGcBody = Type.Object({
  /** The size to shrink to; the daemon's configured maxCacheBytes when omitted. */
  maxBytes: Type.Optional(Type.Integer({ minimum: 0 })),
}, { additionalProperties: false });
export type CacheGcBody = Static<typeof CacheGcBody>;

export const CacheGcResponse = CacheGcResultSchema;
export type CacheGcResponse = CacheGcResult;
