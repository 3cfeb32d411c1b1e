/** `POST /v1/cache/clear`: drop every cache entry and blob. */
import { Type, type Static } from '@sinclair/typebox';

export const CACHE_CLEAR_ROUTE = { method: 'POST', url: '/v1/cache/clear' } as const;

export const CacheClearResponse = Type.Object({ cleared: Type.Literal(true) });
export type CacheClearResponse = Static<typeof CacheClearResponse>;
