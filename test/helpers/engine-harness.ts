/**
 * Test harness: a real engine (real store, real worker pool, real pahole) in a temp dir that the
 * test's `t.after` removes.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { TestContext } from 'node:test';
import { pino } from 'pino';
import { openEngine, type Engine, type EngineConfig, type EngineHooks } from '../../daemon/engine/engine.js';
import type { RemoteTier } from '../../daemon/store/remote/remote-tier.js';
import type { Store } from '../../daemon/store/store.js';
import type { RemoteCacheConfig } from '../../shared/config.js';

export const execFileAsync = promisify(execFile);

/** A fresh temp dir removed after the test. */
export function tempDir(t: TestContext, prefix = 'btfd-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A copy of `module` named `name` in `dir/elsewhere/` (outside any tree under `dir`) and its
 * bytes: the file a hostile symlink or path points at, to show btfd never writes it.
 */
export async function copyOutsideTree(dir: string, module: string, name = 'victim.ko'): Promise<{ outside: string; file: string; bytes: Buffer }> {
  const outside = path.join(dir, 'elsewhere');
  await mkdir(outside, { recursive: true });
  const file = path.join(outside, name);
  await copyFile(module, file);
  return { outside, file, bytes: await readFile(file) };
}

/** A real engine whose cache lives in `cacheDir` (default: a new temp dir), closed after the test. */
export function testEngine(
  t: TestContext, overrides: Partial<EngineConfig> & { cacheDir?: string; remoteCache?: RemoteCacheConfig | null } = {}, hooks: EngineHooks = {},
): { engine: Engine; cacheDir: string; store: Store; remote: RemoteTier | null } {
  const { cacheDir = tempDir(t, 'btfd-cache-'), remoteCache = null, ...config } = overrides;
  const engine = openEngine({
    cacheDir,
    remoteCache,
    hooks,
    config: {
      pahole: process.env.BTFD_PAHOLE ?? 'pahole',
      workers: 2,
      maxCacheBytes: 64 * 1024 * 1024,
      searchPath: process.env.PATH ?? '/usr/bin:/bin',
      ...config,
    },
    logger: pino({ level: 'silent' }),
  });
  t.after(() => engine.close());
  return { engine, cacheDir, store: engine.store, remote: engine.remote };
}

/** `objcopy --dump-section NAME=…` of a file: the section's bytes as binutils sees them. */
export async function dumpSection(file: string, name: string, scratchDir: string): Promise<Buffer> {
  const out = path.join(scratchDir, `dump-${path.basename(file)}-${name.replace(/\W/g, '_')}-${Date.now()}`);
  await execFileAsync('objcopy', ['--dump-section', `${name}=${out}`, file, path.join(scratchDir, 'objcopy-discard.o')]);
  const bytes = await readFile(out);
  await rm(out, { force: true });
  return bytes;
}

/** bpftool, which Debian installs in /usr/sbin (not always on PATH). */
export function bpftoolPath(): string {
  return ['/usr/sbin/bpftool', '/usr/bin/bpftool'].find((p) => existsSync(p)) ?? 'bpftool';
}
