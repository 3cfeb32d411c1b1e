/**
 * One definition of "the same version of a file": the stat fields that change whenever its
 * contents could have (git's and ccache's stat cache compare the same ones). Times are in
 * nanoseconds, so only writes within one filesystem timestamp tick can hide; the stat cache's
 * racy rule and the worker's re-digest cover those.
 */
import type { BigIntStats } from 'node:fs';

export interface FileStamp {
  readonly dev: bigint;
  readonly ino: bigint;
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
}

export function stampOf(info: BigIntStats): FileStamp {
  return { dev: info.dev, ino: info.ino, size: info.size, mtimeNs: info.mtimeNs, ctimeNs: info.ctimeNs };
}

export function sameStamp(a: FileStamp, b: FileStamp): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

/** The later of a stamp's mtime and ctime: when its contents last changed, as far as stat knows. */
export function lastChangeNs(stamp: FileStamp): bigint {
  return stamp.mtimeNs > stamp.ctimeNs ? stamp.mtimeNs : stamp.ctimeNs;
}
