/**
 * bench helper: compare each module's `.BTF` under TREE with the distro's under PRISTINE.
 * Prints one JSON object: how many are byte-identical, equal up to type order, different (named).
 * Usage: node dist/bench/compare-btf.js TREE PRISTINE BASE
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { readSections } from '../daemon/elf/elf-file.js';
import { sameTypesUpToOrder } from '../daemon/btf/btf-compare.js';

const [tree, pristine, base] = process.argv.slice(2);
if (!tree || !pristine || !base) {
  process.stderr.write('usage: compare-btf.js TREE PRISTINE BASE\n');
  process.exit(2);
}
const baseBtf = (await readSections(base, ['.BTF'])).get('.BTF');
if (!baseBtf) throw new Error(`${base} has no .BTF (raw bases: extract with objcopy first)`);
const entries = await readdir(tree, { recursive: true, withFileTypes: true });
const modules = entries.filter((e) => e.isFile() && e.name.endsWith('.ko')).map((e) => path.relative(tree, path.join(e.parentPath, e.name))).sort();
const result = { modules: modules.length, identical: 0, sameUpToOrder: 0, different: [] as string[], missing: [] as string[] };
for (const rel of modules) {
  const mine = (await readSections(path.join(tree, rel), ['.BTF'])).get('.BTF');
  const theirs = (await readSections(path.join(pristine, rel), ['.BTF'])).get('.BTF');
  if (!mine || !theirs) result.missing.push(rel);
  else if (mine.equals(theirs)) result.identical++;
  else if (sameTypesUpToOrder(mine, theirs, baseBtf)) result.sameUpToOrder++;
  else result.different.push(rel);
}
process.stdout.write(`${JSON.stringify(result)}\n`);
