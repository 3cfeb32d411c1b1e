/**
 * One definition of "the same version of a file": the stat fields that change whenever its
 * contents could have (git's and ccache's stat cache compare the same ones). Times are in
 * nanoseconds, so only writes within one filesystem timestamp tick can hide; the stat cache's
 * racy rule and the worker's re-digest cover those.
 *
 * How long that tick is depends on the filesystem: Linux stamps files from its coarse clock, one
 * jiffy (1–10 ms), where the filesystem keeps sub-second times (ext4, xfs, btrfs, tmpfs); ext3,
 * FAT and some network mounts keep whole seconds.
 */
import type { BigIntStats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

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

/**
 * Whether the file's filesystem keeps sub-second times: sub-second digits in either time prove
 * it. A stamp without any may come from a whole-second filesystem (or, once in 10^9, from chance),
 * so callers then assume the coarse tick.
 */
export function keepsSubSecondTimes(stamp: FileStamp): boolean {
  return stamp.mtimeNs % 1_000_000_000n !== 0n || stamp.ctimeNs % 1_000_000_000n !== 0n;
}

/** The later of a stamp's mtime and ctime: when its contents last changed, as far as stat knows. */
export function lastChangeNs(stamp: FileStamp): bigint {
  return stamp.mtimeNs > stamp.ctimeNs ? stamp.mtimeNs : stamp.ctimeNs;
}

/**
 * How far below the kernel's stamp btfd sets the mtime of a file it wrote: far above the
 * precision utimes(2) gets from Node (floating-point seconds, ~0.3 µs today), far below anything
 * make could notice.
 */
const OWN_WRITE_MTIME_LAG_NS = 1_000_000n;

/**
 * Set the mtime of a file just written through `handle` a millisecond below the time the kernel
 * stamped it with, which leaves the ctime (set now) above the mtime. Any later write then moves
 * the mtime (the kernel stamps it with the time now, never below that ctime), so a stat cache
 * can trust the file's stamp at once instead of waiting out the racy window (see stat-cache.ts).
 * Only where the filesystem keeps sub-second times: on a whole-second one this would make the
 * file a second older than its build inputs.
 */
export async function markWritten(handle: FileHandle): Promise<void> {
  const info = await handle.stat({ bigint: true });
  if (!keepsSubSecondTimes(stampOf(info))) return;
  await handle.utimes(Number(info.atimeNs) / 1e9, Number(info.mtimeNs - OWN_WRITE_MTIME_LAG_NS) / 1e9);
}

/**
 * Whether any write after this stamp was taken must change it: true when the mtime is below the
 * ctime (markWritten, or a chmod after the last write), since a write stamps the mtime with the
 * time now, which is never below a ctime already set. Sub-second filesystems only.
 */
export function laterWritesMoveMtime(stamp: FileStamp): boolean {
  return stamp.mtimeNs < stamp.ctimeNs && keepsSubSecondTimes(stamp);
}
