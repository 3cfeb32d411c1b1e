/**
 * The demo's scenarios: what happens to the fixture kernel before each build, and the counts the
 * build must report. `npm run demo` prints them; the engine test checks the same list.
 */
import { utimes } from 'node:fs/promises';
import path from 'node:path';
import type { BuildReport } from '../../shared/build-types.js';
import { changeModule, writeVmlinuxVariant, type FixtureKernel } from '../fixtures/fixture-kernel.js';

export type Counts = Pick<BuildReport, 'fresh' | 'restored' | 'relocated' | 'regenerated' | 'failed'>;

/** Counts with every field not named zero. */
const only = (counts: Partial<Counts>): Counts => ({ fresh: 0, restored: 0, relocated: 0, regenerated: 0, failed: 0, ...counts });

export interface Scenario {
  readonly name: string;
  /** Change the tree before the build. */
  readonly change: (kernel: FixtureKernel) => Promise<void>;
  /** Expected counts, as functions of the module count. */
  readonly expect: (modules: number) => Counts;
}

/**
 * task_struct grew: the four modules that reach it (fxblk, fxnet, fxfs, fxtrace) must be
 * re-encoded; fxchar, fxcrc and fxproto are relocated, since no type they use changed.
 */
const TYPECHANGE = (n: number): Counts => only({ relocated: 3, regenerated: n - 3 });

export const SCENARIOS: readonly Scenario[] = [
  { name: 'cold build', change: async () => undefined, expect: (n) => only({ regenerated: n }) },
  { name: 'rebuild, nothing changed', change: async () => undefined, expect: (n) => only({ fresh: n }) },
  {
    name: 'touch vmlinux',
    change: async (k) => {
      const now = new Date();
      await utimes(k.vmlinux, now, now);
    },
    expect: (n) => only({ fresh: n }),
  },
  {
    name: 'vmlinux relinked, same types',
    change: (k) => writeVmlinuxVariant(k, 'relinked'),
    expect: (n) => only({ fresh: n }),
  },
  {
    name: 'base type changed',
    change: (k) => writeVmlinuxVariant(k, 'typechange'),
    expect: TYPECHANGE,
  },
  {
    name: 'base type change reverted',
    change: (k) => writeVmlinuxVariant(k, 'base'),
    expect: (n) => only({ restored: n }),
  },
  {
    name: 'vmlinux gained a function',
    change: (k) => writeVmlinuxVariant(k, 'funcadded'),
    expect: (n) => only({ relocated: n }),
  },
  {
    name: 'one module changed',
    change: async (k) => changeModule(k, path.basename(k.modules[0]!, '.ko')),
    expect: (n) => only({ fresh: n - 1, regenerated: 1 }),
  },
];

