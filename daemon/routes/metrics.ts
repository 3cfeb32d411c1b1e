/**
 * GET /metrics: Prometheus text format, from prom-client with a registry of the daemon's own
 * (no global default registry: tests build many apps in one process).
 *
 * prom-client is loaded and the registry built on the first scrape, not when the daemon starts
 * (it was a measurable part of a restart, for a route many daemons never serve); its default
 * process metrics (GC, event loop) therefore count from the first scrape.
 */
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { CacheTierStats } from '../../shared/build-types.js';
import type { AppDeps } from './route-deps.js';

async function createRegistry(deps: AppDeps): Promise<Registry> {
  const { collectDefaultMetrics, Gauge, Registry } = await import('prom-client');
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
  gauge('btfd_cache_hits_total', 'Modules the cache answered: restored (from any tier), or found fresh (background rescans not counted)', () => stats().hits);
  gauge('btfd_cache_misses_total', 'Modules whose BTF pahole had to generate', () => stats().misses);
  gauge('btfd_relocated_total', 'Modules whose BTF was relocated from another base instead of generated', () => stats().relocated);
  gauge('btfd_cache_saved_seconds_total', 'pahole time saved by cache hits', () => stats().savedMs / 1000);
  gauge('btfd_watched_trees', 'Trees the daemon watches', () => deps.watch.size);
  const logHealth = () => deps.runtime.health?.().log ?? null;
  gauge('btfd_log_dropped_lines_total', 'Log lines lost: the disk was full (or not writable), or too many were queued', () => logHealth()?.dropped ?? 0);
  gauge('btfd_log_suppressed_lines_total', 'Log lines not written because the same warning repeated too often', () => logHealth()?.suppressed ?? 0);
  gauge('btfd_cache_db_recovered', 'Whether this daemon moved a corrupt cache database aside (1) or not (0)', () => (deps.runtime.health?.().storeRecovery ? 1 : 0));
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

  /** A gauge with one series per label value, read afresh on each scrape. */
  const labelled = (name: string, help: string, label: string, read: () => readonly (readonly [string, number])[]) =>
    new Gauge({
      name,
      help,
      labelNames: [label],
      registers: [registry],
      collect() {
        this.reset();
        for (const [value, count] of read()) this.set({ [label]: value }, count);
      },
    });
  const perTier = (field: Exclude<keyof CacheTierStats, 'tier'>) => () => stats().tiers.map((t) => [t.tier, t[field]] as const);
  labelled('btfd_cache_tier_hits_total', 'Artifacts restored from each cache tier', 'tier', perTier('hits'));
  labelled('btfd_cache_tier_misses_total', 'Lookups each cache tier could not answer', 'tier', perTier('misses'));
  labelled('btfd_cache_tier_errors_total', 'Failed remote requests; local blobs found missing', 'tier', perTier('errors'));
  labelled('btfd_cache_tier_skipped_total', 'Remote requests not sent while the circuit breaker was open', 'tier', perTier('skipped'));
  labelled('btfd_cache_tier_corrupt_total', 'Entries that failed verification, dropped unused', 'tier', perTier('corrupt'));
  labelled('btfd_cache_tier_read_bytes_total', 'Bytes read from each cache tier', 'tier', perTier('bytesRead'));
  labelled('btfd_cache_tier_written_bytes_total', 'Bytes written to each cache tier', 'tier', perTier('bytesWritten'));
  const remote = () => stats().remote;
  gauge('btfd_remote_breaker_open', 'Whether the remote cache is being skipped (circuit breaker open or probing); 0 without a remote', () => {
    const state = remote()?.breaker.state;
    return state === 'open' || state === 'half-open' ? 1 : 0;
  });
  gauge('btfd_remote_uploads_pending', 'Uploads to the remote cache queued or running', () => {
    const uploads = remote()?.uploads;
    return uploads ? uploads.queued + uploads.running : 0;
  });
  labelled('btfd_remote_uploads_total', 'Uploads to the remote cache since the daemon started, by result', 'result', () => {
    const uploads = remote()?.uploads;
    return uploads ? [['done', uploads.done], ['failed', uploads.failed], ['dropped', uploads.dropped]] : [];
  });

  return registry;
}

export function registerMetricsRoute(app: FastifyInstance, deps: AppDeps): void {
  let registry: Promise<Registry> | undefined;
  app.get('/metrics', async (_request, reply) => {
    // A failed load is not kept: the next scrape tries again.
    registry ??= createRegistry(deps).catch((err: unknown) => {
      registry = undefined;
      throw err;
    });
    const ready = await registry;
    reply.header('content-type', ready.contentType);
    return ready.metrics();
  });
}
