/**
 * Real test data committed in test/data (see each dir's README for provenance and license).
 * Paths are resolved from this compiled file: dist/test/helpers/ → the repository's test/data.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const TEST_DATA = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/data');
/** Ten real Debian 12 debug modules (linux 6.1) and the raw BTF of their vmlinux. */
export const DEBIAN_61_DATA = path.join(TEST_DATA, 'debian-6.1-cloud');
/** Real Debian 13 debug modules (linux 6.12) and the raw BTF of their vmlinux. */
export const DEBIAN_612_DATA = path.join(TEST_DATA, 'debian-6.12-cloud');
/** A `.BTF_ids` fixture before and after the kernel's real resolve_btfids. */
export const BTF_IDS_DATA = path.join(TEST_DATA, 'btf-ids');
/** Real kbuild files (scripts/Makefile.btf, scripts/Kbuild.include) from Linux 6.12. */
export const KBUILD_612 = path.resolve(TEST_DATA, '../fixtures/kbuild-6.12');
