/** Bytes a directory really takes on disk (allocated blocks, as `du` counts them). */
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';

export async function diskBytes(dir: string): Promise<number> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  let total = 0;
  for (const e of entries) {
    const info = await lstat(path.join(e.parentPath, e.name)).catch(() => null);
    if (info && !info.isDirectory()) total += info.blocks * 512;
  }
  return total;
}
