/**
 * The engine as the rest of the daemon sees it: the one object that plans and runs module BTF work.
 * The CLI's `--no-daemon` path and the daemon's routes both drive this interface.
 */
import type { TreeRegistration } from '../store/store.js';
import type { BuildEvent, BuildReport, BuildRequest, CacheStats, Explanation, ModuleResult, ModuleState } from '../../shared/build-types.js';
import type { PaholeModuleRequest } from './pahole-argv.js';

export type { TreeRegistration };

export interface Engine {
  /** Bring the request's modules up to date; resolves with the report even when modules failed. */
  build(request: BuildRequest, onEvent?: (event: BuildEvent) => void): Promise<BuildReport>;
  /** A module BTF request from the btfd-pahole drop-in (see pahole-argv.ts). */
  encodeForPahole(request: PaholeModuleRequest): Promise<ModuleResult>;
  /** The key's inputs for one module and the cache's verdict, without changing anything. */
  explain(modulePath: string, options?: { base?: string; paholeFlags?: string }): Promise<Explanation>;
  /** What btfd remembers of the modules under dir (all when omitted). */
  listModules(dir?: string): ModuleState[];
  /** sha256 of a base's `.BTF` bytes (or of a raw BTF file), through the stat cache. */
  baseDigest(basePath: string): Promise<string>;
  /** True when the module is exactly as btfd last wrote it (a watcher's event about our own write). */
  isOwnWrite(modulePath: string): Promise<boolean>;
  /** Watched-tree registrations, kept in the store so they survive restarts. */
  readonly trees: {
    put(tree: TreeRegistration): void;
    remove(dir: string): boolean;
    list(): TreeRegistration[];
  };
  /** Worker pool figures for status: threads, tasks running, tasks waiting. */
  poolStats(): { size: number; busy: number; queued: number };
  cacheStats(): CacheStats;
  cacheGc(maxBytes?: number): { removedEntries: number; removedBytes: number };
  cacheVerify(): { checked: number; corrupt: string[]; missing: string[]; orphans: number };
  cacheClear(): void;
  /** Waits for running work, then closes the worker pool and the store. Idempotent. */
  close(): Promise<void>;
}
