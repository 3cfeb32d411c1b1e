/**
 * The body of every error answer, and the NDJSON error line of a streamed build.
 * `code` comes from shared/errors.ts; clients switch on it, never on `message`.
 */
import { Type, type Static } from '@sinclair/typebox';
import { ErrorCodeSchema } from './schemas.js';

export const ErrorBody = Type.Object({
  /** The HTTP status, repeated in the body for clients that only see the body (NDJSON). */
  statusCode: Type.Integer(),
  code: ErrorCodeSchema,
  /** The HTTP status text, e.g. "Bad Request". */
  error: Type.String(),
  /** What happened. */
  message: Type.String(),
  /** What to do next (the catalog's text for `code`). */
  next: Type.String(),
});
export type ErrorBody = Static<typeof ErrorBody>;
