/**
 * Finding a program the way a shell does: a name with a slash is taken as a path, any other name
 * is looked up in PATH. The CLI uses it to send the daemon the pahole the user means (found on the
 * user's PATH, not the daemon's); the daemon uses it to find the pahole a request names.
 */
import { access, constants } from 'node:fs/promises';
import path from 'node:path';

/** The first executable `name` on `searchPath` (or `name` itself when it holds a slash), else null. */
export async function findExecutable(name: string, searchPath: string | undefined): Promise<string | null> {
  const candidates = name.includes('/')
    ? [path.resolve(name)]
    : (searchPath ?? '').split(':').filter(Boolean).map((dir) => path.join(dir, name));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here: try the next directory
    }
  }
  return null;
}
