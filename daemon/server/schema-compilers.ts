/**
 * The routes' schema compilers: fastify's own (ajv for requests, fast-json-stringify for
 * replies), each route's function compiled on its first call instead of when the app is ready.
 *
 * Why: compiling every route's schemas up front was the largest part of the daemon's start (ajv
 * and fast-json-stringify, ~0.7 s of CPU in a profile of a restart on a 2-core machine), while a
 * daemon serves few of its routes (a restart: hello, then status). The compilers and their
 * options are the ones fastify would build, so requests are validated as before; replies are
 * serialized from the schemas as reply-schema.ts rewrites them (the same JSON). `eager` compiles
 * every function when the route is added, as fastify does: a schema that does not compile then
 * fails the app's start, which is how test/unit/app-routes.test.ts checks them all.
 */
import { createRequire } from 'node:module';
import type { FastifyServerOptions } from 'fastify';
import { replySchema } from './reply-schema.js';

type CompilersFactory = NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>;
/** A route's validator or serializer; the factories' own types differ, only "a function" matters here. */
type Compiled = ((...args: never[]) => unknown) & { schemaEnv?: unknown; errors?: unknown };
type Compile = (routeSchema: { schema?: unknown }) => Compiled;
type Factory = (...args: never[]) => Compile;

// Loaded on first use too: @fastify/ajv-compiler brings ajv's JTD compiler and formats, and a
// restart's requests (hello, status) validate nothing. Synchronous, as fastify's compilers are.
const require = createRequire(import.meta.url);
const validatorFactory = (): Factory => (require('@fastify/ajv-compiler') as () => Factory)();
const serializerFactory = (): Factory => (require('@fastify/fast-json-stringify-compiler') as () => Factory)();

/** When each route's functions are compiled. */
export type SchemaCompilation = 'lazy' | 'eager';

/**
 * `compile()`'s result, called through a stand-in that compiles on its first use. Fastify reads
 * two properties of an ajv validator besides calling it: `schemaEnv` (when present it passes the
 * parent data, so ajv may replace a root value) and `errors` (after a failed call); both are
 * forwarded to the compiled function.
 */
function onFirstCall(compile: () => Compiled): Compiled {
  let compiled: Compiled | undefined;
  const get = (): Compiled => (compiled ??= compile());
  const standIn = function (this: unknown, ...args: never[]): unknown {
    return get().apply(this, args);
  };
  Object.defineProperty(standIn, 'schemaEnv', { get: () => get().schemaEnv });
  Object.defineProperty(standIn, 'errors', { get: () => compiled?.errors });
  return standIn;
}

/**
 * The compiler factory `load()` gives, loaded and built on first use; each route's function is
 * compiled (from its schema as `prepare` gives it) on its first call, or at once when eager.
 */
function deferred(load: () => Factory, when: SchemaCompilation, prepare: (schema: unknown) => unknown = (schema) => schema): Factory {
  return (...factoryArgs) => {
    let compiler: Compile | undefined;
    const compile = (route: { schema?: unknown }): Compiled => (compiler ??= load()(...factoryArgs))({ ...route, schema: prepare(route.schema) });
    return (route) => (when === 'eager' ? compile(route) : onFirstCall(() => compile(route)));
  };
}

/** The `schemaController.compilersFactory` for Fastify(). */
export function schemaCompilers(when: SchemaCompilation): CompilersFactory {
  return {
    buildValidator: deferred(validatorFactory, when) as unknown as CompilersFactory['buildValidator'],
    buildSerializer: deferred(serializerFactory, when, replySchema) as unknown as CompilersFactory['buildSerializer'],
  };
}
