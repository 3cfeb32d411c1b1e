/**
 * The planner: what to do with one module, decided purely from digests and what the cache and the
 * module's history say (no disk, no pahole), so every branch is unit-tested on plain values.
 * module-inputs.ts gathers those values; the executor carries the plan out.
 */
import type { ModuleAction } from '../../shared/module-actions.js';
import type { FileStamp } from '../fs/file-stamp.js';
import type { CachedAction, RelatedAction } from '../store/artifact-cache.js';
import type { ModuleRecord } from '../store/module-records.js';
import type { KeyInputs } from './cache-key.js';

/** What a plan is decided from. */
export interface PlanInputs {
  readonly path: string;
  /** The module's stat when it was read. */
  readonly stamp: FileStamp;
  /** The stat was taken so soon after the file changed that a later write could share it. */
  readonly racy: boolean;
  readonly inputs: KeyInputs;
  readonly key: string;
  /** Digest of the module's current output sections; null when it has none. */
  readonly outputsDigest: string | null;
  /** The cache entry for the key, or null on a miss. */
  readonly cached: CachedAction | null;
  /**
   * On a miss: this module's entry (same content, tool and flags) on another base whose snapshot
   * btfd keeps, to relocate from; null when there is none or relocation is off.
   */
  readonly related: RelatedAction | null;
  /** The module's last build, or null when btfd never built it. */
  readonly previous: ModuleRecord | null;
}

/** A decided plan: the action, why, and everything it was decided from. */
export interface ModulePlan extends PlanInputs {
  readonly action: ModuleAction;
  readonly reason: string;
  /** Which inputs changed since the last build, in words ("base BTF changed", "first build"). */
  readonly because: string;
}

/** A digest as people read it: its first 12 hex digits. */
export function shortDigest(digest: string): string {
  return digest.slice(0, 12);
}

/** Which key inputs differ from the module's last build, in words. */
export function describeChanges(previous: ModuleRecord | null, inputs: KeyInputs): string[] {
  if (!previous) return [];
  const words: Record<string, string> = { tool: 'pahole changed', flags: 'flags changed', base: 'base BTF changed', module: 'module changed' };
  return Object.keys(words)
    .filter((name) => previous.inputs[name] !== undefined && previous.inputs[name] !== inputs[name as keyof KeyInputs])
    .map((name) => words[name]!);
}

/**
 * fresh when the module already holds the key's artifact; restore when cached; relocate when only
 * its artifact on another base is; else regenerate.
 */
export function decide(p: PlanInputs): ModulePlan {
  const changes = describeChanges(p.previous, p.inputs);
  const because = changes.length > 0 ? changes.join(', ') : p.previous ? 'output sections missing or altered' : 'first build';
  if (p.cached && p.outputsDigest === p.cached.outputsDigest) return { ...p, action: 'fresh', because, reason: 'output sections match the cached artifact' };
  if (p.cached) return { ...p, action: 'restore', because, reason: `cached (${because})` };
  if (p.related) return { ...p, action: 'relocate', because, reason: `not cached (${because}); cached on base ${shortDigest(p.related.base)}` };
  return { ...p, action: 'regenerate', because, reason: `not cached (${because})` };
}
