/** `POST /v1/cache/verify`: re-hash every blob; corrupt ones are reported (and dropped by the store). */
import type { CacheVerifyResult } from '../build-types.js';
import { CacheVerifyResultSchema } from './schemas.js';

export { CACHE_VERIFY_ROUTE } from './routes.js';

export const CacheVerifyResponse = CacheVerifyResultSchema;
export type CacheVerifyResponse = CacheVerifyResult;
