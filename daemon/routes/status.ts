/** GET /v1/status: the daemon's state for `btfd status`. */
import type { FastifyInstance } from 'fastify';
import type { ModuleState } from '../../shared/build-types.js';
import { toBtfdError } from '../../shared/errors.js';
import { STATUS_ROUTE, StatusResponse } from '../../shared/protocol/status.js';
import { DAEMON_VERSION, PROTOCOL_VERSION } from '../../shared/version.js';
import type { AppDeps } from './route-deps.js';

function countByOutcome(modules: readonly ModuleState[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const m of modules) counts[m.outcome] = (counts[m.outcome] ?? 0) + 1;
  return counts;
}

export function registerStatusRoute(app: FastifyInstance, deps: AppDeps): void {
  const { config, engine, runtime } = deps;
  const now = deps.now ?? Date.now;
  app.get(STATUS_ROUTE.url, { schema: { response: { 200: StatusResponse } } }, async (): Promise<StatusResponse> => {
    // Status is how a user diagnoses a broken cache: report the failure instead of failing.
    let cache: StatusResponse['cache'] = null;
    let cacheError: string | undefined;
    try {
      cache = deps.cache.stats();
    } catch (err) {
      cacheError = err instanceof Error ? err.message : String(err);
    }
    const pahole = await engine.paholeInfo().then(
      (info) => ({ name: config.pahole, path: info.path, version: info.version, error: null }),
      (err: unknown) => {
        const error = toBtfdError(err);
        return { name: config.pahole, path: null, version: null, error: { code: error.code, message: error.message } };
      },
    );
    return {
      pid: runtime.pid,
      daemonVersion: DAEMON_VERSION,
      protocolVersion: PROTOCOL_VERSION,
      uptimeSeconds: Math.max(0, (now() - runtime.startedAtMs) / 1000),
      socketPath: config.socketPath,
      logPath: config.logPath,
      cacheDir: config.cacheDir,
      warming: runtime.warming(),
      reconcileMs: runtime.reconcileMs(),
      idleTimeoutMs: runtime.activity.effectiveTimeoutMs(),
      cache,
      ...(cacheError === undefined ? {} : { cacheError }),
      pahole,
      trees: deps.watch.list(),
      modules: countByOutcome(await engine.listModules()),
      pool: engine.poolStats(),
      eventSubscribers: deps.events.subscribers,
      health: runtime.health?.() ?? { log: null, storeRecovery: null },
    };
  });
}
