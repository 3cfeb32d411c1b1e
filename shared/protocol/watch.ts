/**
 * Watched trees: `POST /v1/watch`, `POST /v1/unwatch`, `GET /v1/trees`.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { TreeStatus } from '../build-types.js';
import { AbsolutePath, BuildReportSchema, ErrorCodeSchema, PaholeName } from './schemas.js';

export { WATCH_ROUTE, UNWATCH_ROUTE, TREES_ROUTE } from './routes.js';

export const WatchBody = Type.Object({
  dir: AbsolutePath,
  base: Type.Optional(AbsolutePath),
  paholeFlags: Type.Optional(Type.String()),
  /** The pahole the tree's builds run (a path, or a name on the daemon's PATH); default: the daemon's. */
  pahole: Type.Optional(PaholeName),
}, { additionalProperties: false });
export type WatchBody = Static<typeof WatchBody>;

export const UnwatchBody = Type.Object({ dir: AbsolutePath }, { additionalProperties: false });
export type UnwatchBody = Static<typeof UnwatchBody>;

export const UnwatchResponse = Type.Object({ removed: Type.Boolean() });
export type UnwatchResponse = Static<typeof UnwatchResponse>;

/** A build report without its per-module results, as trees and events carry it. */
export const BuildSummarySchema = Type.Omit(BuildReportSchema, ['results']);

/** A watched tree's build: its summary, when it finished, what started it. */
export const TreeBuildSchema = Type.Composite([BuildSummarySchema, Type.Object({ atMs: Type.Number(), trigger: Type.String() })]);

export const TreeStatusSchema = Type.Object({
  dir: Type.String(),
  base: Type.String(),
  flags: Type.Union([Type.String(), Type.Null()]),
  pahole: Type.Union([Type.String(), Type.Null()]),
  ready: Type.Boolean(),
  building: Type.Boolean(),
  missing: Type.Boolean(),
  events: Type.Integer(),
  errors: Type.Integer(),
  lastBuild: Type.Union([TreeBuildSchema, Type.Null()]),
  lastPass: Type.Union([TreeBuildSchema, Type.Null()]),
  lastError: Type.Union([Type.Object({ code: ErrorCodeSchema, message: Type.String() }), Type.Null()]),
});
export type { TreeStatus };

/** The answer to `POST /v1/watch`: the tree, and what it was registered with before, when that differed. */
export const WatchResponse = Type.Composite([
  TreeStatusSchema,
  Type.Object({
    replaced: Type.Union([
      Type.Object({ base: Type.Union([Type.String(), Type.Null()]), flags: Type.Union([Type.String(), Type.Null()]), pahole: Type.Union([Type.String(), Type.Null()]) }),
      Type.Null(),
    ]),
  }),
]);
export type WatchResponse = TreeStatus & { readonly replaced: Static<typeof WatchResponse>['replaced'] };

export const TreesResponse = Type.Object({ trees: Type.Array(TreeStatusSchema) });
export interface TreesResponse {
  readonly trees: readonly TreeStatus[];
}
