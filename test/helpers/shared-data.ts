/**
 * The real Debian test data lives in the shared/ dir beside the repo (../shared from the checkout,
 * which is how CI lays it out). Paths are resolved from this compiled file: dist/test/helpers/.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** ../shared/data/debian-6.1-cloud: ten real debug modules and the raw vmlinux BTF. */
export const DEBIAN_DATA = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/data/debian-6.1-cloud');
