/**
 * `POST /v1/build`: bring a tree's modules up to date.
 *
 * The body is a BuildRequest (absolute paths). The answer is the BuildReport as JSON, or, when
 * the request says `Accept: application/x-ndjson`, a stream of one JSON object per line:
 * BuildEvents as they happen, then exactly one final line, either
 * `{"type":"report","report":{…}}` or `{"type":"error","error":{…ErrorBody}}` (the status line
 * was already sent as 200 when the build started, so a failure mid-stream travels in-band).
 */
import { Type } from '@sinclair/typebox';
import type { BuildEvent, BuildReport, BuildRequest } from '../build-types.js';
import { ErrorBody } from './error.js';
import { BuildEventSchema, BuildReportSchema, BuildRequestSchema } from './schemas.js';

export { BUILD_ROUTE, NDJSON_CONTENT_TYPE } from './routes.js';

export const BuildBody = BuildRequestSchema;
/** The engine's BuildRequest (schemas.ts checks that the schema agrees with it). */
export type BuildBody = BuildRequest;

export const BuildResponse = BuildReportSchema;
export type BuildResponse = BuildReport;

/** The final line of a successful stream. */
export const BuildReportLine = Type.Object({ type: Type.Literal('report'), report: BuildReportSchema });
/** The final line of a failed stream. */
export const BuildErrorLine = Type.Object({ type: Type.Literal('error'), error: ErrorBody });

/** Any line of a streamed build. */
export const BuildStreamLine = Type.Union([BuildEventSchema, BuildReportLine, BuildErrorLine]);
export type BuildStreamLine =
  | BuildEvent
  | { readonly type: 'report'; readonly report: BuildReport }
  | { readonly type: 'error'; readonly error: ErrorBody };
