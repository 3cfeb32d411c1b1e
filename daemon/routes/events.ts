/**
 * GET /v1/events: server-sent events for IDEs and monitors — module and build progress, base
 * changes, trees added and removed. Each event is `event: <type>` plus its JSON as `data:`.
 * A comment line every HEARTBEAT_MS keeps proxies and idle clients from dropping the stream.
 */
import type { FastifyInstance } from 'fastify';
import type { AppDeps } from './route-deps.js';

const HEARTBEAT_MS = 15_000;

export function registerEventsRoute(app: FastifyInstance, deps: AppDeps): void {
  app.get('/v1/events', async (request, reply) => {
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    raw.write(': btfd events\n\n');
    const unsubscribe = deps.events.subscribe((event) => {
      raw.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
    });
    const heartbeat = setInterval(() => raw.write(': heartbeat\n\n'), HEARTBEAT_MS);
    const stopOnClose = deps.events.onClose(() => {
      stop();
      raw.end();
    });
    function stop(): void {
      clearInterval(heartbeat);
      unsubscribe();
      stopOnClose();
    }
    request.raw.once('close', stop);
  });
}
