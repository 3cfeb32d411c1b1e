/**
 * What a module is to every reader that goes through its ELF headers: its layout-independent
 * content digest (daemon/elf/elf-digest.ts) and the bytes of its output sections. Bytes no
 * header points at (an in-place install leaves the old sections behind) do not count, so two
 * complete builds of the same inputs give the same state whatever the file's history; a torn
 * module fails to parse or gives a state no complete build gives.
 */
import { createHash } from 'node:crypto';
import { digestModule } from '../../daemon/elf/elf-digest.js';
import { readSections } from '../../daemon/elf/elf-file.js';
import { moduleDigestOptions } from '../../daemon/engine/module-btf-ids.js';

const OUTPUT_SECTIONS = ['.BTF', '.BTF.base', '.BTF_ids'] as const;

/** sha256 (hex) of the module's state; 'unreadable: …' when it does not parse. */
export async function moduleState(file: string): Promise<string> {
  try {
    const { digest } = await digestModule(file, moduleDigestOptions());
    const sections = await readSections(file, OUTPUT_SECTIONS);
    const hash = createHash('sha256').update(digest);
    for (const name of OUTPUT_SECTIONS) {
      const bytes = sections.get(name);
      hash.update(`\0${name}\0${bytes === undefined ? '-' : bytes.length}\0`);
      if (bytes !== undefined) hash.update(bytes);
    }
    return hash.digest('hex');
  } catch (err) {
    return `unreadable: ${err instanceof Error ? err.message : String(err)}`;
  }
}
