/**
 * btfd's own writes, so a watcher's event about a module btfd just installed is not taken for a
 * change: the stamp of each module as btfd last wrote it.
 */
import { stat } from 'node:fs/promises';
import { sameStamp, stampOf, type FileStamp } from '../fs/file-stamp.js';

export interface OwnWrites {
  note(path: string, stamp: FileStamp): void;
  /** True when the module is exactly as btfd last wrote it. */
  isOwnWrite(path: string): Promise<boolean>;
  forget(path: string): void;
}

export function createOwnWrites(): OwnWrites {
  const stamps = new Map<string, FileStamp>();
  return {
    note: (path, stamp) => stamps.set(path, stamp),
    async isOwnWrite(path) {
      const mine = stamps.get(path);
      if (!mine) return false;
      const info = await stat(path, { bigint: true }).catch(() => null);
      return info !== null && sameStamp(stampOf(info), mine);
    },
    forget: (path) => stamps.delete(path),
  };
}
