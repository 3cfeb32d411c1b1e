/** `POST /v1/cache/gc`: evict least recently used entries until the cache fits `maxBytes`. */
import { Type, type Static } from '@sinclair/typebox';

export const CACHE_GC_ROUTE = { method: 'POST', url: '/v1/cache/gc' } as const;

export const CacheGcBody = Type.Object({
  /** The size to shrink to; the daemon's configured maxCacheBytes when omitted. */
  maxBytes: Type.Optional(Type.Integer({ minimum: 0 })),
}, { additionalProperties: false });
export type CacheGcBody = Static<typeof CacheGcBody>;

export const CacheGcResponse = Type.Object({
  removedEntries: Type.Integer(),
  removedBytes: Type.Integer(),
});
export type CacheGcResponse = Static<typeof CacheGcResponse>;
