/**
 * Does this split BTF fit that base? A check before installing a cached artifact, so that BTF
 * encoded against another base is never written into a module, whatever a cache says about it.
 *
 * Split BTF carries no reference to its base, but pahole's output (libbpf's btf__dedup) has
 * invariants that pin the base's string section: each string of the module's own section is
 * referenced, and only at its offset counted from the end of the base's strings; a reference into
 * the base's strings lands at the start of a string there. Type references must name existing
 * ids. A different base almost always has another string length, which moves every module string
 * reference; this check then fails.
 */
import { BtfdError } from '../../shared/errors.js';
import { parseBtf, type Btf } from './btf-reader.js';
import { visitStringOffsets, visitTypeIds } from './btf-walk.js';

/** Throws BTFD_ERR_BTF_MALFORMED, naming what does not fit, unless `split` fits `base`. */
export function checkSplitFitsBase(split: Buffer, base: Btf, what: string): void {
  const btf: Btf = parseBtf(split, base, what);
  const misfit = (detail: string): never => {
    throw new BtfdError('BTFD_ERR_BTF_MALFORMED', `${what} does not fit its base: ${detail}`);
  };
  const referenced = new Set<number>();
  const baseStrings = base.bytes.subarray(base.stringsOffset, base.stringsOffset + base.stringsLength);
  for (let i = 0; i < btf.count; i++) {
    visitTypeIds(btf, i, (id) => {
      if (id >= btf.typeCount) misfit(`type ${btf.firstId + i} refers to type ${id}, beyond the ${btf.typeCount - 1} that exist`);
    });
    visitStringOffsets(btf, i, (offset) => {
      if (offset >= btf.stringsStart) {
        referenced.add(offset - btf.stringsStart);
      } else if (offset > 0 && baseStrings[offset - 1] !== 0) {
        misfit(`type ${btf.firstId + i} names base string offset ${offset}, inside a string`);
      }
    });
  }
  const own = btf.bytes.subarray(btf.stringsOffset, btf.stringsOffset + btf.stringsLength);
  // Split strings continue the base's: the first one starts at local offset 0 ("" is the base's).
  for (let start = 0; start < own.length; start = own.indexOf(0, start) + 1) {
    if (own[start] !== 0 && !referenced.has(start)) misfit(`its own string at ${start} is never referenced (another base's string length?)`);
  }
  for (const offset of referenced) {
    if (offset > 0 && own[offset - 1] !== 0) misfit(`a name points inside its own string at ${offset}`);
  }
}
