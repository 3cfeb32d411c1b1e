/**
 * Where a CLI command's work happens: in the daemon (the default; autostarted when needed), or
 * in this process with `--no-daemon`. Both answer with the same protocol types, so commands and
 * their output do not care which one ran.
 */
import { pino } from 'pino';
import type { BuildEvent, BuildReport, BuildRequest, CacheStats, Explanation, ModuleState } from '../shared/build-types.js';
import type { Config } from '../shared/config.js';
import { connectDaemon } from './connect.js';

export interface Backend {
  build(request: BuildRequest, onEvent?: (event: BuildEvent) => void): Promise<BuildReport>;
  explain(request: { path: string; base?: string; paholeFlags?: string }): Promise<Explanation>;
  modules(dir?: string): Promise<readonly ModuleState[]>;
  cacheStats(): Promise<CacheStats>;
  cacheGc(maxBytes?: number): Promise<{ removedEntries: number; removedBytes: number }>;
  cacheVerify(): Promise<{ checked: number; corrupt: string[]; missing: string[]; orphans: number }>;
  cacheClear(): Promise<void>;
  close(): Promise<void>;
}

/** The daemon as a backend; notes (e.g. "restarted a daemon of another version") go to `note`. */
export async function daemonBackend(config: Config, note: (text: string) => void): Promise<Backend> {
  const client = await connectDaemon(config, { autostart: true });
  for (const text of client.notes) note(text);
  return {
    build: (request, onEvent) => client.build(request, onEvent),
    explain: (request) => client.explain(request),
    modules: async (dir) => (await client.modules(dir)).modules,
    cacheStats: () => client.cacheStats(),
    cacheGc: (maxBytes) => client.cacheGc(maxBytes),
    cacheVerify: () => client.cacheVerify(),
    cacheClear: async () => {
      await client.cacheClear();
    },
    close: async () => client.close(),
  };
}

/** The engine in this process (`--no-daemon`); loaded lazily so daemon commands stay light. */
export async function inProcessBackend(config: Config, searchPath: string | undefined): Promise<Backend> {
  const { createEngine } = await import('../daemon/engine/engine.js');
  const engine = createEngine({ config: { ...config, ...(searchPath ? { searchPath } : {}) }, logger: pino({ level: 'silent' }) });
  return {
    build: (request, onEvent) => engine.build(request, onEvent),
    explain: ({ path, ...options }) => engine.explain(path, options),
    modules: async (dir) => engine.listModules(dir),
    cacheStats: async () => engine.cacheStats(),
    cacheGc: async (maxBytes) => engine.cacheGc(maxBytes),
    cacheVerify: async () => engine.cacheVerify(),
    cacheClear: async () => engine.cacheClear(),
    close: () => engine.close(),
  };
}
