/**
 * Whether a process that named a leftover (a temp file, a scratch dir) may still be using it.
 * A reused pid only makes a leftover wait for a later sweep; it never removes a live one's file.
 */

/** True while process `pid` exists (EPERM: it exists, as another user's). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: unknown }).code === 'EPERM';
  }
}
