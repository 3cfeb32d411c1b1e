/** `POST /v1/cache/verify`: re-hash every blob; corrupt ones are reported (and dropped by the store). */
import type { CacheVerifyResult } from '../build-types.js';
import { CacheVerifyResultSchema } from './schemas.js';

export const CACHE_VERIFY_ROUTE = { method: 'POST', url: '/v1/cache/verify' } as const;

export const CacheVerifyResponse = CacheVerifyResultSchema;
export type CacheVerifyResponse = CacheVerifyResult;
