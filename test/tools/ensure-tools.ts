/**
 * The demo and the tests run real tools: pahole, gcc and binutils for the fixture kernel; make,
 * curl and bpftool for the tests; Debian 13's pahole 1.30 (with its bpftool) as the second pahole.
 * Where a system package is missing, say the one command that installs it, and run it when we are
 * root (as CI and fresh containers are). pahole 1.30 needs no root: it is unpacked from Debian's
 * trixie archive into `.cache/` of the checkout (test/tools/install-pahole-1.30.sh).
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findExecutable } from '../../shared/executable.js';

/** A command and the Debian package that provides it. */
export interface SystemTool {
  readonly command: string;
  readonly debianPackage: string;
}

/** What the demo needs: the fixture kernel is built with gcc and ld, encoded with pahole. */
export const DEMO_TOOLS: readonly SystemTool[] = [
  { command: 'pahole', debianPackage: 'dwarves' },
  { command: 'gcc', debianPackage: 'gcc' },
  { command: 'ld', debianPackage: 'binutils' },
  { command: 'objcopy', debianPackage: 'binutils' },
];

/**
 * What the tests need besides: make (kbuild flags), curl (the drop-in shim), bpftool (oracle),
 * tmux (a real terminal of a known width for the progress line), and the remote cache servers
 * the remote-tier tests start on 127.0.0.1 — nginx (WebDAV PUT, the bazel-remote HTTP layout),
 * redis-server — with openssl for their TLS certificate.
 */
export const TEST_TOOLS: readonly SystemTool[] = [
  ...DEMO_TOOLS,
  { command: 'make', debianPackage: 'make' },
  { command: 'curl', debianPackage: 'curl' },
  { command: 'bpftool', debianPackage: 'bpftool' },
  { command: 'nginx', debianPackage: 'nginx' },
  { command: 'redis-server', debianPackage: 'redis-server' },
  { command: 'openssl', debianPackage: 'openssl' },
  { command: 'tmux', debianPackage: 'tmux' },
];

/** Debian installs bpftool in /usr/sbin, which is not on every user's PATH. */
export function toolSearchPath(env: NodeJS.ProcessEnv): string {
  return [env.PATH ?? '', '/usr/sbin', '/sbin'].filter(Boolean).join(':');
}

/**
 * Make sure every tool is there, installing the missing packages when root. Returns false (after
 * saying what to install) when they cannot be had. `BTFD_PAHOLE` stands in for pahole.
 */
export async function ensureSystemTools(tools: readonly SystemTool[], env: NodeJS.ProcessEnv, stderr: NodeJS.WritableStream): Promise<boolean> {
  const searchPath = toolSearchPath(env);
  const missing = async (): Promise<SystemTool[]> => {
    const absent: SystemTool[] = [];
    for (const tool of tools) {
      const command = tool.command === 'pahole' ? env.BTFD_PAHOLE || 'pahole' : tool.command;
      if (!(await findExecutable(command, searchPath))) absent.push(tool);
    }
    return absent;
  };
  const absent = await missing();
  if (absent.length === 0) return true;
  const packages = [...new Set(absent.map((t) => t.debianPackage))];
  const install = `apt-get install -y ${packages.join(' ')}`;
  if (process.getuid?.() !== 0) {
    stderr.write(`btfd: missing ${absent.map((t) => t.command).join(', ')}. Install with:\n  sudo apt-get update && sudo ${install}\n`);
    return false;
  }
  stderr.write(`btfd: missing ${absent.map((t) => t.command).join(', ')}; running: apt-get update && ${install}\n`);
  try {
    const aptEnv = { ...env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'inherit'], env: aptEnv });
    execFileSync('apt-get', ['install', '-y', '-qq', ...packages], { stdio: ['ignore', 'ignore', 'inherit'], env: aptEnv });
  } catch {
    stderr.write(`btfd: installing failed; run: ${install}\n`);
    return false;
  }
  const still = await missing();
  if (still.length > 0) stderr.write(`btfd: still missing after the install: ${still.map((t) => t.command).join(', ')}\n`);
  return still.length === 0;
}

const INSTALL_PAHOLE_130 = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/tools/install-pahole-1.30.sh');

/**
 * Debian 13's pahole 1.30 in the checkout's `.cache/` (downloaded once from Debian's archive);
 * the wrapper's path, or null after saying why it could not be had.
 */
export function ensurePahole130(stderr: NodeJS.WritableStream): string | null {
  try {
    const out = execFileSync('sh', [INSTALL_PAHOLE_130], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    return out.trim().split('\n').pop() ?? null;
  } catch {
    stderr.write(`btfd: could not install pahole 1.30; run: sh ${INSTALL_PAHOLE_130}\n`);
    return null;
  }
}

/** Where the pahole 1.30 install puts its bpftool (libbpf 1.5: reads distilled `.BTF.base`). */
export function bpftool130For(pahole130: string): string {
  return path.join(path.dirname(pahole130), 'bpftool');
}
