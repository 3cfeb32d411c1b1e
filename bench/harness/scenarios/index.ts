/** Every scenario, in the order one repetition runs them (later ones start from earlier state). */
import type { Scenario } from '../scenario.js';
import { baseChanged } from './base-changed.js';
import { cacheBytes } from './cache-bytes.js';
import { cold } from './cold.js';
import { rebuildAgain, rebuildFirst, relinkSameBtf, touchVmlinux } from './rebuild.js';
import { rehash, restart } from './restart.js';
import { rebuildAfterRestore, restore } from './restore.js';
import { rss } from './rss.js';
import { shimFresh, shimHit } from './shim.js';
import { status } from './status.js';
import { watchOne } from './watch-one.js';

export const SCENARIOS: readonly Scenario[] = [
  cold, rebuildFirst, rebuildAgain, touchVmlinux, relinkSameBtf, restore, rebuildAfterRestore, baseChanged,
  shimHit, shimFresh, status, watchOne, restart, rehash, rss, cacheBytes,
];
