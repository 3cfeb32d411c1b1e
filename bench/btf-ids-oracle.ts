/**
 * `.BTF_ids` against the kernel's real resolve_btfids, on every module of a distro corpus that has
 * the section (not run in CI: it needs resolve_btfids built from a kernel source tree).
 *
 *   node dist/bench/btf-ids-oracle.js --corpus DIR --resolve-btfids PATH [--pahole P] [--flags F]
 *
 * For each module (a copy; DIR is read-only), with B = the corpus vmlinux:
 *  1. inverse: btfd reads the distro's resolved section back to its pristine form; the real tool
 *     resolving that pristine form against the distro .BTF must give the distro's bytes again;
 *  2. forward: btfd regenerates the module (serial pahole, fresh cache) and resolves .BTF_ids for
 *     the new .BTF; the real tool resolving the same pristine form against btfd's .BTF must give
 *     exactly btfd's bytes.
 * Prints one line per module and exits non-zero on any difference.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { pino } from 'pino';
import { openEngine } from '../daemon/engine/engine.js';
import { readElfLayout, readSections } from '../daemon/elf/elf-file.js';
import { installSections } from '../daemon/elf/elf-install.js';
import { readBtfIdsSource } from '../daemon/elf/elf-symbols.js';
import { parseBtfIdsLayout, pristineBtfIds } from '../daemon/btf/btf-ids.js';
import { splitLookup, viewOf } from '../daemon/engine/module-btf-ids.js';
import { readBaseBtf } from '../daemon/engine/base-btf.js';

const execFileAsync = promisify(execFile);
const { values } = parseArgs({
  options: {
    corpus: { type: 'string' },
    'resolve-btfids': { type: 'string' },
    pahole: { type: 'string', default: 'pahole' },
    flags: { type: 'string', default: '--btf_gen_floats -j --lang_exclude=rust' },
  },
});
if (!values.corpus || !values['resolve-btfids']) {
  process.stderr.write('usage: btf-ids-oracle --corpus DIR --resolve-btfids PATH [--pahole P] [--flags F]\n');
  process.exit(2);
}
const corpus = path.resolve(values.corpus);
const resolveBtfids = path.resolve(values['resolve-btfids']);
const vmlinux = path.join(corpus, 'vmlinux');

async function btfIdsBytes(file: string): Promise<Buffer> {
  return (await readBtfIdsSource(file))!.bytes;
}

/** The real tool on a copy of `module` whose .BTF_ids is replaced by `pristine`. */
async function realResolve(module: string, pristine: Buffer, scratch: string): Promise<Buffer> {
  const copy = path.join(scratch, `real-${path.basename(module)}`);
  await copyFile(module, copy);
  await installSections(copy, new Map([['.BTF_ids', pristine]]));
  await execFileAsync(resolveBtfids, ['-b', vmlinux, copy]);
  return btfIdsBytes(copy);
}

const modules: string[] = [];
for (const entry of await readdir(path.join(corpus, 'kernel'), { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith('.ko')) continue;
  const file = path.join(entry.parentPath, entry.name);
  if ((await readElfLayout(file)).sections.some((s) => s.name === '.BTF_ids')) modules.push(file);
}
const base = viewOf((await readBaseBtf(vmlinux)).btf, vmlinux);
const scratch = await mkdtemp(path.join(os.tmpdir(), 'btfd-oracle-'));
let failures = 0;
try {
  for (const distroModule of modules.sort()) {
    const name = path.relative(path.join(corpus, 'kernel'), distroModule);
    const tree = path.join(scratch, path.basename(distroModule, '.ko'));
    const module = path.join(tree, path.basename(distroModule));
    await execFileAsync('mkdir', ['-p', tree]);
    await copyFile(distroModule, module);
    const distro = await btfIdsBytes(module);
    const source = (await readBtfIdsSource(module))!;
    const lookup = splitLookup(base, (await readSections(module, ['.BTF'])).get('.BTF')!)!;
    const pristine = pristineBtfIds(parseBtfIdsLayout(source), source.bytes, [lookup]);
    const inverse = (await realResolve(module, pristine, scratch)).equals(distro);

    const engine = openEngine({
      cacheDir: path.join(tree, 'cache'),
      config: { pahole: values.pahole!, workers: 1, maxCacheBytes: 1 << 30, searchPath: process.env.PATH ?? '' },
      logger: pino({ level: 'silent' }),
    });
    const report = await engine.build({ dir: tree, base: vmlinux, paholeFlags: values.flags!, modules: [module] });
    await engine.close();
    const mine = await btfIdsBytes(module);
    const forward = report.regenerated === 1 && (await realResolve(module, pristine, scratch)).equals(mine);
    const sameAsDistro = mine.equals(distro) ? 'same bytes as the distro' : 'differs from the distro (.BTF renumbered)';
    process.stdout.write(`${name}: inverse ${inverse ? 'ok' : 'DIFFERS'}, forward ${forward ? 'ok' : 'DIFFERS'} (${sameAsDistro})\n`);
    if (!inverse || !forward) failures++;
  }
} finally {
  await rm(scratch, { recursive: true, force: true });
}
process.stdout.write(`${modules.length} modules with .BTF_ids, ${failures} differing from the real resolve_btfids\n`);
process.exit(failures === 0 ? 0 : 1);
