/**
 * POST /v1/build: JSON report, or NDJSON events then a final report line
 * (see shared/protocol/build.ts).
 *
 * In NDJSON mode the status line waits for the build's first event: a build that fails before
 * doing anything (no base, bad flags) still gets a proper HTTP error; once events flow, a failure
 * travels as a final `{"type":"error"}` line.
 *
 * A client that hangs up before its answer is complete (Ctrl-C on `btfd build`, an IDE closing
 * the stream) cancels the build: no module starts after that, those in flight finish.
 */
import { PassThrough } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { BuildEvent, BuildReport, BuildRequest } from '../../shared/build-types.js';
import { BUILD_ROUTE, BuildBody, BuildResponse, NDJSON_CONTENT_TYPE, type BuildStreamLine } from '../../shared/protocol/build.js';
import type { Engine } from '../engine/engine.js';
import { toErrorBody } from './errors.js';
import type { AppDeps } from './route-deps.js';

/** True when the Accept header asks for NDJSON. */
export function wantsNdjson(accept: string | undefined): boolean {
  return accept !== undefined && accept.split(',').some((part) => part.trim().split(';')[0] === NDJSON_CONTENT_TYPE);
}

/**
 * Start the build and resolve once it emitted its first event (with a stream carrying it and
 * everything after), or rejects when the build fails before its first event.
 */
function startStreamedBuild(engine: Engine, request: BuildRequest, signal: AbortSignal, onFailure: (err: unknown) => void): Promise<PassThrough> {
  const stream = new PassThrough();
  // A client that hangs up destroys the stream (and cancels the build through `signal`).
  stream.on('error', () => {});
  const write = (line: BuildStreamLine): void => {
    if (!stream.destroyed && !stream.writableEnded) stream.write(`${JSON.stringify(line)}\n`);
  };
  return new Promise((resolve, reject) => {
    let started = false;
    const begin = (): void => {
      if (started) return;
      started = true;
      resolve(stream);
    };
    const onEvent = (event: BuildEvent): void => {
      write(event);
      begin();
    };
    engine.build(request, { onEvent, signal }).then(
      (report: BuildReport) => {
        write({ type: 'report', report });
        stream.end();
        begin();
      },
      (err: unknown) => {
        if (!started) {
          stream.destroy();
          reject(err);
          return;
        }
        onFailure(err);
        write({ type: 'error', error: toErrorBody(err) });
        stream.end();
      },
    );
  });
}

/**
 * The request with a watched tree's registered base, flags and pahole where it names none, so
 * that a build of the tree and its watcher agree on what its modules are built with.
 */
function withTreeSettings(body: BuildRequest, deps: AppDeps): BuildRequest {
  const registered = deps.watch.settingsOf(body.dir);
  if (registered === null) return body;
  return {
    ...body,
    ...(body.base === undefined && registered.base !== null ? { base: registered.base } : {}),
    ...(body.paholeFlags === undefined && registered.flags !== null ? { paholeFlags: registered.flags } : {}),
    ...(body.pahole === undefined && registered.pahole !== null ? { pahole: registered.pahole } : {}),
  };
}

export function registerBuildRoute(app: FastifyInstance, deps: AppDeps): void {
  const log = deps.logger.child({ component: 'build-route' });
  // Closing the server waits for in-flight requests, so a build blocked on a hung pahole would
  // hold the daemon's stop forever: stop the engine's paholes first.
  app.addHook('preClose', (done) => {
    deps.engine.interrupt();
    done();
  });
  app.post<{ Body: BuildBody }>(
    BUILD_ROUTE.url,
    { schema: { body: BuildBody, response: { 200: BuildResponse } } },
    async (request, reply) => {
      const hungUp = new AbortController();
      reply.raw.once('close', () => {
        if (!reply.raw.writableFinished) hungUp.abort();
      });
      const body = withTreeSettings(request.body, deps);
      if (!wantsNdjson(request.headers.accept)) return deps.engine.build(body, { signal: hungUp.signal });
      const stream = await startStreamedBuild(deps.engine, body, hungUp.signal, (err) => {
        if (!hungUp.signal.aborted) log.error({ err, dir: request.body.dir }, 'streamed build failed');
      });
      return reply.type(NDJSON_CONTENT_TYPE).send(stream);
    },
  );
}
