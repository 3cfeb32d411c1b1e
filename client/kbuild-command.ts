/**
 * `btfd kbuild [DIR]`: check a kernel build tree for the drop-in and print the exact make line.
 * The daemon runs the checks (a vmlinux with `.BTF`, CONFIG_DEBUG_INFO_BTF_MODULES=y, a pahole new
 * enough), with the pahole it would use; this prints them and the commands to run.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../shared/config.js';
import type { CommandIo } from './daemon-commands.js';
import type { DaemonClient } from './daemon-client.js';

/** pahole's first version with the reproducible_build feature (deterministic with -j). */
const REPRODUCIBLE_PAHOLE_VERSION = 127;

/** The shim, next to this file's source tree: dist/client/ → client/bin/btfd-pahole. */
export function shimPath(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../client/bin/btfd-pahole');
}

/** Print the checks and the make line; exit 0 when every check passed, 1 otherwise. */
export async function kbuildCommand(config: Config, client: DaemonClient, dir: string, pahole: string, io: CommandIo): Promise<number> {
  const tree = path.resolve(dir);
  const { checks, paholeVersion } = await client.kbuildCheck(tree, pahole);
  for (const check of checks) io.stdout.write(`${check.ok ? 'ok  ' : 'FAIL'} ${check.line}\n`);
  const home = config.home ? `BTFD_HOME=${config.home} ` : '';
  // Older pahole's -j makes vmlinux's BTF differ on every full build, and every module key with it.
  const stable = paholeVersion > 0 && paholeVersion < REPRODUCIBLE_PAHOLE_VERSION;
  io.stdout.write(`\nStart the daemon once (the drop-in runs the real pahole whenever it is not running):\n  ${home}btfd start\n`);
  if (stable) {
    io.stdout.write('pahole before 1.27 encodes vmlinux differently on every build with -j; BTFD_STABLE_BASE=1 drops -j\n');
    io.stdout.write("from that one call so that `make clean && make` restores modules from the cache.\n");
  }
  io.stdout.write(`Then build as usual, with:\n  ${home}${stable ? 'BTFD_STABLE_BASE=1 ' : ''}make -C ${tree} PAHOLE=${shimPath()}\n`);
  return checks.every((check) => check.ok) ? 0 : 1;
}
