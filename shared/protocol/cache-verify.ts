/** `POST /v1/cache/verify`: re-hash every blob; corrupt ones are reported (and dropped by the store). */
import { Type, type Static } from '@sinclair/typebox';

export const CACHE_VERIFY_ROUTE = { method: 'POST', url: '/v1/cache/verify' } as const;

export const CacheVerifyResponse = Type.Object({
  checked: Type.Integer(),
  corrupt: Type.Array(Type.String()),
  missing: Type.Array(Type.String()),
  orphans: Type.Integer(),
});
export type CacheVerifyResponse = Static<typeof CacheVerifyResponse>;
