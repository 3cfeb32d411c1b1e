/**
 * GET /metrics: Prometheus text format, from prom-client with a registry of the daemon's own
 * (no global default registry: tests build many apps in one process).
 */
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { AppDeps } from './route-deps.js';

export function registerMetricsRoute(app: FastifyInstance, deps: AppDeps): void {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'btfd_' });
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  const stats = () => deps.cache.stats();
  gauge('btfd_cache_entries', 'Action cache entries', () => stats().entries);
  gauge('btfd_cache_bytes', 'Bytes of cached artifacts', () => stats().bytes);
  gauge('btfd_cache_max_bytes', 'Cache size limit', () => stats().maxBytes);
  gauge('btfd_cache_hits_total', 'Modules the cache answered: restored, or found fresh (background rescans not counted)', () => stats().hits);
  gauge('btfd_cache_misses_total', 'Modules whose BTF pahole had to generate', () => stats().misses);
  gauge('btfd_relocated_total', 'Modules whose BTF was relocated from another base instead of generated', () => stats().relocated);
  gauge('btfd_cache_saved_seconds_total', 'pahole time saved by cache hits', () => stats().savedMs / 1000);
  gauge('btfd_watched_trees', 'Trees the daemon watches', () => deps.watch.size);
  gauge('btfd_uptime_seconds', 'Seconds since the daemon started', () => ((deps.now ?? Date.now)() - deps.runtime.startedAtMs) / 1000);
  new Gauge({
    name: 'btfd_modules',
    help: 'Modules by the outcome of their last build',
    labelNames: ['outcome'],
    registers: [registry],
    async collect() {
      const modules = await deps.engine.listModules();
      this.reset();
      for (const m of modules) this.inc({ outcome: m.outcome });
    },
  });

  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', registry.contentType);
    return registry.metrics();
  });
}
