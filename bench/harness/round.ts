/**
 * One repetition of every scenario: its own trees and btfd home, and the shared steps several
 * scenarios start from (the naive full build, btfd's cold build, the daemon watching the tree),
 * each done once, on first use. Scenarios run in a fixed order on this state.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { readSections } from '../../daemon/elf/elf-file.js';
import { createBtfd, type Btfd, type BuildJson } from './btfd.js';
import { diskBytes } from './disk.js';
import { naiveBuild, type Pahole } from './naive.js';
import { copyTree, type Tree } from './tree.js';

export interface RoundOptions {
  readonly index: number;
  readonly corpus: string;
  readonly modules: readonly string[];
  readonly work: string;
  readonly jobs: number;
  readonly pahole: Pahole;
  readonly progress: (text: string) => void;
}

export interface Round extends RoundOptions {
  readonly btfd: Btfd;
  /** Naive first on even rounds, btfd first on odd ones, so drift in load hits both sides. */
  interleave<A, B>(naive: () => Promise<A>, btfd: () => Promise<B>): Promise<[A, B]>;
  naiveTree(): Promise<Tree>;
  btfdTree(): Promise<Tree>;
  /** `xargs -P pahole` on every stripped module of the naive tree: what kbuild redoes. */
  naiveFull(): Promise<number>;
  /** btfd's build of its stripped tree on an empty cache, and the cache's bytes on disk and
   * the modules' `.BTF` bytes after it. */
  coldBuild(): Promise<{ seconds: number; report: BuildJson; cacheBytes: number; btfBytes: number }>;
  /** The daemon watching the btfd tree, its first pass done. */
  watching(): Promise<void>;
  /** `make()` once per round under `key`: setup that several scenarios share. */
  shared<T>(key: string, make: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

function once<T>(f: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | null = null;
  return () => (p ??= f());
}

export function createRound(options: RoundOptions): Round {
  const dir = path.join(options.work, `r${options.index}`);
  const btfd = createBtfd(path.join(dir, 'h'), options.pahole.path);
  const naiveTree = once(() => copyTree(options.corpus, options.modules, path.join(dir, 'naive'), options.jobs));
  const btfdTree = once(() => copyTree(options.corpus, options.modules, path.join(dir, 'tree'), options.jobs));
  let daemonUp = false;
  let watched: string | null = null;
  const sharedSetups = new Map<string, Promise<unknown>>();

  const round: Round = {
    ...options,
    btfd,
    async interleave(naive, btfdSide) {
      if (options.index % 2 === 0) {
        const a = await naive();
        return [a, await btfdSide()];
      }
      const b = await btfdSide();
      return [await naive(), b];
    },
    naiveTree,
    btfdTree,
    naiveFull: once(async () => {
      const tree = await naiveTree();
      options.progress('naive: xargs -P pahole on every module');
      return naiveBuild(tree, options.pahole, tree.vmlinux, options.jobs);
    }),
    coldBuild: once(async () => {
      const tree = await btfdTree();
      await mkdir(dir, { recursive: true });
      if (!daemonUp) {
        await btfd.start();
        daemonUp = true;
      }
      options.progress('btfd: cold build');
      const built = await btfd.build(tree.dir, tree.vmlinux, options.pahole.flags);
      const btfBytes = (await Promise.all(tree.modules.map(async (m) => (await readSections(m, ['.BTF'])).get('.BTF')?.length ?? 0)))
        .reduce((a, b) => a + b, 0);
      return { ...built, cacheBytes: await diskBytes(path.join(btfd.home, 'cache')), btfBytes };
    }),
    watching: once(async () => {
      const tree = await btfdTree();
      await round.coldBuild();
      const since = Date.now();
      await btfd.cli(['watch', tree.dir, '--base', tree.vmlinux, '--pahole-flags', options.pahole.flags]);
      watched = tree.dir;
      options.progress('btfd: watching, first pass');
      await btfd.waitSettled(tree.dir, since, 30 * 60_000);
    }),
    shared<T>(key: string, make: () => Promise<T>): Promise<T> {
      if (!sharedSetups.has(key)) sharedSetups.set(key, make());
      return sharedSetups.get(key) as Promise<T>;
    },
    async close() {
      if (watched !== null) await btfd.cli(['unwatch', watched]).catch(() => undefined);
      if (daemonUp) await btfd.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return round;
}

