/**
 * Watched trees: `POST /v1/watch`, `POST /v1/unwatch`, `GET /v1/trees`.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { TreeStatus } from '../build-types.js';
import { AbsolutePath, BuildReportSchema, ErrorCodeSchema } from './schemas.js';

export { WATCH_ROUTE, UNWATCH_ROUTE, TREES_ROUTE } from './routes.js';

export const WatchBody = Type.Object({
  dir: AbsolutePath,
  base: Type.Optional(AbsolutePath),
  paholeFlags: Type.Optional(Type.String()),
}, { additionalProperties: false });
export type WatchBody = Static<typeof WatchBody>;

export const UnwatchBody = Type.Object({ dir: AbsolutePath }, { additionalProperties: false });
export type UnwatchBody = Static<typeof UnwatchBody>;

export const UnwatchResponse = Type.Object({ removed: Type.Boolean() });
export type UnwatchResponse = Static<typeof UnwatchResponse>;

/** A build report without its per-module results, as trees and events carry it. */
export const BuildSummarySchema = Type.Omit(BuildReportSchema, ['results']);

export const TreeStatusSchema = Type.Object({
  dir: Type.String(),
  base: Type.String(),
  flags: Type.Union([Type.String(), Type.Null()]),
  ready: Type.Boolean(),
  building: Type.Boolean(),
  events: Type.Integer(),
  errors: Type.Integer(),
  lastBuild: Type.Union([BuildSummarySchema, Type.Null()]),
  lastError: Type.Union([Type.Object({ code: ErrorCodeSchema, message: Type.String() }), Type.Null()]),
});
export type { TreeStatus };

export const TreesResponse = Type.Object({ trees: Type.Array(TreeStatusSchema) });
export interface TreesResponse {
  readonly trees: readonly TreeStatus[];
}
