/**
 * Base diffs, computed once per pair of bases (in a worker: seconds of CPU for a vmlinux) and kept
 * for the last few pairs: every module of a tree relocates across the same pair.
 */
import type { BaseDiff } from '../btf/base-diff.js';
import type { BaseSnapshots } from '../store/base-snapshots.js';
import type { WorkerPool } from './worker-pool.js';

const DIFFS_KEPT = 2;

export interface BaseDiffs {
  /** The diff from base `oldDigest` to base `newDigest` (both must have snapshots). */
  get(oldDigest: string, newDigest: string): Promise<BaseDiff>;
}

export function createBaseDiffs(pool: WorkerPool, bases: BaseSnapshots): BaseDiffs {
  const diffs = new Map<string, Promise<BaseDiff>>();
  return {
    get(oldDigest, newDigest) {
      const key = `${oldDigest}:${newDigest}`;
      let diff = diffs.get(key);
      if (!diff) {
        diff = pool.baseDiff({ oldBase: bases.pathOf(oldDigest), newBase: bases.pathOf(newDigest) });
        diff.catch(() => diffs.delete(key));
        diffs.set(key, diff);
        while (diffs.size > DIFFS_KEPT) diffs.delete(diffs.keys().next().value!);
      }
      return diff;
    },
  };
}
