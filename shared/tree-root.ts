/**
 * Where a lone module's tree is: the nearest ancestor dir holding a vmlinux (a kernel build dir),
 * or the module's own dir when none does. The daemon uses it to explain a module; the CLI to build
 * one (`btfd build fs/ext4/ext4.ko`).
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';

/** The tree of `modulePath` (absolute). */
export async function findTreeOf(modulePath: string): Promise<string> {
  let dir = path.dirname(modulePath);
  for (;;) {
    const found = await stat(path.join(dir, 'vmlinux')).then(() => true, () => false);
    if (found) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return path.dirname(modulePath);
    dir = parent;
  }
}
