/** `POST /v1/explain`: a module's key inputs and the cache's verdict, changing nothing. */
import { Type, type Static } from '@sinclair/typebox';
import type { Explanation } from '../build-types.js';
import { AbsolutePath, ExplanationSchema, PaholeName } from './schemas.js';

export { EXPLAIN_ROUTE } from './routes.js';

export const ExplainBody = Type.Object({
  /** The module (.ko), absolute. */
  path: AbsolutePath,
  base: Type.Optional(AbsolutePath),
  paholeFlags: Type.Optional(Type.String()),
  /** The pahole to key with: a path, or a name on the daemon's PATH; default: the daemon's. */
  pahole: Type.Optional(PaholeName),
}, { additionalProperties: false });
export type ExplainBody = Static<typeof ExplainBody>;

export const ExplainResponse = ExplanationSchema;
/** The engine's Explanation (schemas.ts checks that the schema agrees with it). */
export type ExplainResponse = Explanation;
