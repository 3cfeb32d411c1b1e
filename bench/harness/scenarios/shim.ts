/**
 * The kbuild drop-in (client/bin/btfd-pahole) on a cache hit, per call, vs pahole on the same
 * module: kbuild's command line in a scratch dir next to a vmlinux, the daemon warm. `shim-hit`
 * is what kbuild meets after a relink (the module has no `.BTF`; the daemon patches the cached
 * one in); `shim-fresh` is a module that already holds its BTF.
 */
import { copyFile, mkdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import { SHIM } from '../btfd.js';
import { naiveModule } from '../naive.js';
import { run } from '../run-process.js';
import type { Round } from '../round.js';
import type { Sample, Scenario } from '../scenario.js';

const CALLS_PER_ROUND = 10;

interface ShimSetup {
  readonly dir: string;
  readonly pristine: string;
  readonly target: string;
  call(): Promise<number>;
}

/** A scratch dir with vmlinux and one stripped module; the first call fills the cache. */
function shimSetup(round: Round): Promise<ShimSetup> {
  return round.shared('shim', async () => {
    const tree = await round.btfdTree();
    await round.coldBuild();
    const dir = path.join(path.dirname(round.btfd.home), 'shim');
    await mkdir(dir, { recursive: true });
    await symlink(tree.vmlinux, path.join(dir, 'vmlinux'));
    const source = tree.modules[Math.floor(tree.modules.length / 2)]!;
    const pristine = path.join(dir, 'pristine.ko');
    await run('objcopy', ['--remove-section', '.BTF', source, pristine]);
    const target = path.join(dir, path.basename(source));
    await copyFile(pristine, target);
    const args = ['-J', ...round.pahole.flags.split(/\s+/).filter(Boolean), '--btf_base', 'vmlinux', path.basename(target)];
    const env = { ...round.btfd.env, BTFD_SHIM_DEBUG: '1' };
    const warm = await run(SHIM, args, { env, cwd: dir });
    if (!warm.stderr.includes('by the daemon')) throw new Error(`the daemon did not answer the shim: ${warm.stderr}`);
    const quiet = { ...round.btfd.env };
    return { dir, pristine, target, call: async () => (await run(SHIM, args, { env: quiet, cwd: dir })).seconds * 1000 };
  });
}

/**
 * The shim against pahole on one module, call by call, interleaved. `relinked`: the module is put
 * back to its pristine bytes before each call (a hit: the cached BTF is restored); else it keeps
 * the BTF the first call installed (fresh: nothing to do).
 */
async function perCall(round: Round, relinked: boolean): Promise<Sample> {
  const s = await shimSetup(round);
  const naiveCopy = path.join(s.dir, 'naive.ko');
  const naive: number[] = [];
  const btfd: number[] = [];
  if (!relinked) await s.call(); // the module now holds its BTF
  round.progress(`shim${relinked ? '' : ' (fresh)'} vs pahole, per call`);
  for (let i = 0; i < CALLS_PER_ROUND; i++) {
    await copyFile(s.pristine, naiveCopy);
    if (relinked) await copyFile(s.pristine, s.target);
    const [n, b] = await round.interleave(async () => (await naiveModule(naiveCopy, round.pahole, path.join(s.dir, 'vmlinux'))) * 1000, () => s.call());
    naive.push(n);
    btfd.push(b);
  }
  return { naive, btfd, detail: { module: path.basename(s.target) } };
}

export const shimHit: Scenario = {
  name: 'shim-hit',
  title: 'drop-in on a cache hit after a relink, per call',
  naive: 'pahole -J on the module',
  unit: 'ms',
  goal: { kind: 'at-most', value: 12 },
  run: (round) => perCall(round, true),
};

export const shimFresh: Scenario = {
  name: 'shim-fresh',
  title: 'drop-in on a module already up to date, per call',
  naive: 'pahole -J on the module',
  unit: 'ms',
  goal: { kind: 'at-most', value: 12 },
  run: (round) => perCall(round, false),
};
