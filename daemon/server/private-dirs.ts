/** btfd's private dirs: checked (and created) before anything else, by the daemon and its `--check`. */
import type { Config } from '../../shared/config.js';
import { ensurePrivateDir } from '../../shared/paths.js';

/** Create btfd's private dirs (0700, owner-checked) for `config`. */
export function preparePrivateDirs(config: Config): void {
  if (config.home !== null) ensurePrivateDir(config.home);
  ensurePrivateDir(config.runtimeDir);
  ensurePrivateDir(config.stateDir);
  ensurePrivateDir(config.cacheDir);
}
