/** `POST /v1/cache/clear`: drop every cache entry and blob. */
import { Type, type Static } from '@sinclair/typebox';

export { CACHE_CLEAR_ROUTE } from './routes.js';

export const CacheClearResponse = Type.Object({ cleared: Type.Literal(true) });
export type CacheClearResponse = Static<typeof CacheClearResponse>;
