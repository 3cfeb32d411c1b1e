/**
 * The demo and the test runner need the real pahole. Where it is missing, say the one command
 * that installs it, and run that command when we are root (as CI and fresh containers are).
 */
import { execFileSync } from 'node:child_process';
import { findExecutable } from '../../daemon/engine/pahole-tool.js';

/** The install command for Debian and Ubuntu, where pahole ships in `dwarves`. */
export const INSTALL_PAHOLE = 'apt-get install -y dwarves';

/** Path of pahole, installing it when possible; null (after saying why) when it cannot be had. */
export async function ensurePahole(env: NodeJS.ProcessEnv, stderr: NodeJS.WritableStream): Promise<string | null> {
  const wanted = env.BTFD_PAHOLE ?? 'pahole';
  const found = await findExecutable(wanted, env.PATH);
  if (found) return found;
  if (process.getuid?.() !== 0) {
    stderr.write(`btfd: pahole is not installed. Install it with:\n  sudo ${INSTALL_PAHOLE}\n`);
    return null;
  }
  stderr.write(`btfd: pahole is not installed; running: apt-get update && ${INSTALL_PAHOLE}\n`);
  try {
    execFileSync('apt-get', ['update'], { stdio: ['ignore', 'ignore', 'inherit'] });
    execFileSync('apt-get', ['install', '-y', 'dwarves'], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...env, DEBIAN_FRONTEND: 'noninteractive' } });
  } catch {
    stderr.write(`btfd: installing pahole failed; run: ${INSTALL_PAHOLE}\n`);
    return null;
  }
  return findExecutable(wanted, env.PATH);
}
