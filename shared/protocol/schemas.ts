/**
 * TypeBox schemas for the JSON types of shared/build-types.ts, used by the route files.
 *
 * build-types.ts stays the source of truth for the engine; the compile-time checks at the bottom
 * fail the build when a schema and its interface drift apart, in either direction (a field the
 * schema lacks would otherwise be dropped silently by fastify's response serializer).
 */
import { Type, type Static, type TInteger, type TLiteral, type TObject, type TSchema, type TUnion } from '@sinclair/typebox';
import { MODULE_ACTIONS, MODULE_OUTCOMES, type ModuleAction, type ModuleOutcome } from '../module-actions.js';
import type {
  BuildEvent, BuildReport, BuildRequest, CacheGcResult, CacheStats, CacheTierStats, CacheVerifyResult, Explanation, KeyInput, ModuleResult, ModuleState,
  RemoteCacheStatus,
} from '../build-types.js';
import type { ErrorCode } from '../errors.js';

/** A catalog code; checked as a `BTFD_ERR_` string on the wire. */
export const ErrorCodeSchema = Type.Unsafe<ErrorCode>(Type.String({ pattern: '^BTFD_ERR_[A-Z_]+$' }));

/** An absolute path: the daemon's working directory is not the client's. */
export const AbsolutePath = Type.String({ minLength: 1, pattern: '^/' });

/** A pahole to run: an absolute path, or a bare name looked up on the daemon's PATH. */
export const PaholeName = Type.String({ minLength: 1, pattern: '^(/.*|[^/]+)$' });

export const BuildRequestSchema = Type.Object({
  dir: AbsolutePath,
  base: Type.Optional(AbsolutePath),
  paholeFlags: Type.Optional(Type.String()),
  pahole: Type.Optional(PaholeName),
  modules: Type.Optional(Type.Array(AbsolutePath)),
  relocate: Type.Optional(Type.Boolean()),
}, { additionalProperties: false });

/** Which pahole a build ran: the binary's real path and its `--version`. */
export const PaholeInfoSchema = Type.Object({ path: Type.String(), version: Type.String() });

/** A union of string literals, from one of the module-actions table's lists. */
function literals<K extends string>(names: readonly K[]): TUnion<TLiteral<K>[]> {
  return Type.Union(names.map((name) => Type.Literal(name)));
}

/** An object with an integer count for each name. */
function counts<K extends string>(names: readonly K[]): TObject<{ [P in K]: TInteger }> {
  return Type.Object(Object.fromEntries(names.map((name) => [name, Type.Integer()])) as { [P in K]: TInteger });
}

export const ModuleActionSchema = literals<ModuleAction>(MODULE_ACTIONS);
export const ModuleOutcomeSchema = literals<ModuleOutcome>(MODULE_OUTCOMES);

export const ModuleResultSchema = Type.Object({
  path: Type.String(),
  outcome: ModuleOutcomeSchema,
  reason: Type.String(),
  ms: Type.Number(),
  error: Type.Optional(Type.Object({ code: ErrorCodeSchema, message: Type.String(), next: Type.String() })),
});

export const BuildReportSchema = Type.Composite([
  Type.Object({
    dir: Type.String(),
    base: Type.String(),
    flags: Type.String(),
    pahole: PaholeInfoSchema,
    modules: Type.Integer(),
    seconds: Type.Number(),
    failures: Type.Array(ModuleResultSchema),
    results: Type.Array(ModuleResultSchema),
  }),
  counts<ModuleOutcome>(MODULE_OUTCOMES),
]);

export const BuildEventSchema = Type.Union([
  Type.Composite([Type.Object({ type: Type.Literal('planned'), total: Type.Integer() }), counts<ModuleAction>(MODULE_ACTIONS)]),
  Type.Object({
    type: Type.Literal('module'),
    result: ModuleResultSchema,
    done: Type.Integer(),
    total: Type.Integer(),
  }),
]);

export const KeyInputSchema = Type.Object({
  name: Type.Union([
    Type.Literal('schema'), Type.Literal('recipe'), Type.Literal('tool'),
    Type.Literal('flags'), Type.Literal('base'), Type.Literal('module'),
  ]),
  value: Type.String(),
  digest: Type.String(),
  previous: Type.Optional(Type.String()),
  previousValue: Type.Optional(Type.String()),
});

export const ExplanationSchema = Type.Object({
  path: Type.String(),
  key: Type.String(),
  inputs: Type.Array(KeyInputSchema),
  verdict: ModuleActionSchema,
  reason: Type.String(),
  cached: Type.Boolean(),
  tier: Type.Optional(Type.Union([Type.Literal('local'), Type.Literal('remote')])),
  lastBuild: Type.Optional(Type.Object({ outcome: Type.String(), reason: Type.String(), atMs: Type.Number() })),
});

export const ModuleStateSchema = Type.Object({
  path: Type.String(),
  outcome: Type.String(),
  reason: Type.String(),
  updatedMs: Type.Number(),
  checkedMs: Type.Number(),
  error: Type.Optional(Type.Object({ code: ErrorCodeSchema, message: Type.String(), next: Type.String() })),
});

export const CacheTierStatsSchema = Type.Object({
  tier: Type.Union([Type.Literal('local'), Type.Literal('remote')]),
  hits: Type.Integer(),
  misses: Type.Integer(),
  errors: Type.Integer(),
  skipped: Type.Integer(),
  corrupt: Type.Integer(),
  bytesRead: Type.Integer(),
  bytesWritten: Type.Integer(),
});

export const RemoteCacheStatusSchema = Type.Object({
  kind: Type.Union([Type.Literal('http'), Type.Literal('redis')]),
  location: Type.String(),
  readOnly: Type.Boolean(),
  salted: Type.Boolean(),
  timeoutMs: Type.Integer(),
  breaker: Type.Object({
    state: Type.Union([Type.Literal('closed'), Type.Literal('open'), Type.Literal('half-open')]),
    failures: Type.Integer(),
    retryAtMs: Type.Union([Type.Number(), Type.Null()]),
    lastError: Type.Union([Type.Object({ code: ErrorCodeSchema, message: Type.String(), atMs: Type.Number() }), Type.Null()]),
  }),
  uploads: Type.Object({ queued: Type.Integer(), running: Type.Integer(), done: Type.Integer(), failed: Type.Integer(), dropped: Type.Integer() }),
});

export const CacheStatsSchema = Type.Object({
  entries: Type.Integer(),
  blobs: Type.Integer(),
  bytes: Type.Integer(),
  maxBytes: Type.Integer(),
  hits: Type.Integer(),
  misses: Type.Integer(),
  relocated: Type.Integer(),
  hitRate: Type.Union([Type.Number(), Type.Null()]),
  savedMs: Type.Number(),
  files: Type.Integer(),
  corrupt: Type.Integer(),
  missing: Type.Integer(),
  tiers: Type.Array(CacheTierStatsSchema),
  remote: Type.Union([RemoteCacheStatusSchema, Type.Null()]),
});

export const CacheGcResultSchema = Type.Object({
  removedEntries: Type.Integer(),
  removedBytes: Type.Integer(),
});

export const CacheVerifyResultSchema = Type.Object({
  checked: Type.Integer(),
  corrupt: Type.Array(Type.String()),
  missing: Type.Array(Type.String()),
  orphans: Type.Integer(),
});

// ---- compile-time agreement with build-types.ts ------------------------------------------------

type DeepReadonly<T> = T extends readonly (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;
/** true when A and B accept the same values, ignoring readonly. */
type SameShape<A, B> = [DeepReadonly<A>] extends [DeepReadonly<B>]
  ? [DeepReadonly<B>] extends [DeepReadonly<A>] ? true : false
  : false;
type Agrees<S extends TSchema, T> = SameShape<Static<S>, T>;

/** Each line names a schema that must agree with its interface; a drift turns `true` into an error. */
export const SCHEMAS_AGREE: {
  buildRequest: Agrees<typeof BuildRequestSchema, BuildRequest>;
  moduleResult: Agrees<typeof ModuleResultSchema, ModuleResult>;
  buildReport: Agrees<typeof BuildReportSchema, BuildReport>;
  buildEvent: Agrees<typeof BuildEventSchema, BuildEvent>;
  keyInput: Agrees<typeof KeyInputSchema, KeyInput>;
  explanation: Agrees<typeof ExplanationSchema, Explanation>;
  moduleState: Agrees<typeof ModuleStateSchema, ModuleState>;
  cacheStats: Agrees<typeof CacheStatsSchema, CacheStats>;
  cacheTierStats: Agrees<typeof CacheTierStatsSchema, CacheTierStats>;
  remoteCacheStatus: Agrees<typeof RemoteCacheStatusSchema, RemoteCacheStatus>;
  cacheGcResult: Agrees<typeof CacheGcResultSchema, CacheGcResult>;
  cacheVerifyResult: Agrees<typeof CacheVerifyResultSchema, CacheVerifyResult>;
} = {
  buildRequest: true,
  moduleResult: true,
  buildReport: true,
  buildEvent: true,
  keyInput: true,
  explanation: true,
  moduleState: true,
  cacheStats: true,
  cacheTierStats: true,
  remoteCacheStatus: true,
  cacheGcResult: true,
  cacheVerifyResult: true,
};
