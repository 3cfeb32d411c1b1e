/**
 * The `.BTF_ids` section of a module and the symbols resolve_btfids patches through, read the
 * way resolve_btfids reads them (see daemon/btf/btf-ids.ts for what is done with them).
 */
import type { BtfIdsSource, BtfIdsSymbol } from '../btf/btf-ids.js';
import {
  findUnique, malformed, readHeaders, readSectionBytes, SHT_NOBITS, SHT_STRTAB, SHT_SYMTAB, SYM_SIZE, withFile,
  type ElfLayout, type ElfSection, type PositionalReader,
} from './elf-file.js';

export const BTF_IDS_SECTION_NAME = '.BTF_ids';
const BTF_ID_SYMBOL_PREFIX = '__BTF_ID__';

/** The `.BTF_ids` section and its `__BTF_ID__` symbols (see {@link BtfIdsSource}), or undefined. */
export async function readBtfIdsSource(file: string): Promise<BtfIdsSource | undefined> {
  return withFile(file, async (fh, size) => {
    const { layout } = await readHeaders(fh, file, size);
    return (await readBtfIdsFrom(fh, file, layout))?.source;
  });
}

/**
 * Read `.BTF_ids` and the symbols resolve_btfids would patch: those of the symbol table whose raw
 * st_shndx is the section's index (it does not follow SHN_XINDEX) and whose name starts with
 * `__BTF_ID__`. Undefined when there is no `.BTF_ids` or no symbol table, as resolve_btfids does
 * nothing then.
 */
export async function readBtfIdsFrom(fh: PositionalReader, file: string, layout: ElfLayout): Promise<{ section: ElfSection; source: BtfIdsSource } | undefined> {
  const section = findUnique(layout, BTF_IDS_SECTION_NAME);
  if (section === undefined) return undefined;
  if (section.type === SHT_NOBITS) throw malformed(file, `${BTF_IDS_SECTION_NAME} has no contents (SHT_NOBITS)`);
  const symtabs = layout.sections.filter((s) => s.type === SHT_SYMTAB);
  if (symtabs.length === 0) return undefined;
  if (symtabs.length > 1) throw malformed(file, 'several symbol tables');
  const symtab = symtabs[0]!;
  if (symtab.entsize !== SYM_SIZE || symtab.size % SYM_SIZE !== 0) throw malformed(file, 'symbol table entries are not 24 bytes');
  const strtab = layout.sections[symtab.link];
  if (strtab === undefined || strtab.type !== SHT_STRTAB) throw malformed(file, 'the symbol table names no string table');
  const [bytes, symbols, strings] = [
    await readSectionBytes(fh, section, file),
    await readSectionBytes(fh, symtab, file),
    await readSectionBytes(fh, strtab, file),
  ];
  const prefix = Buffer.from(BTF_ID_SYMBOL_PREFIX, 'latin1');
  const found: BtfIdsSymbol[] = [];
  for (let at = 0; at < symbols.length; at += SYM_SIZE) {
    if (symbols.readUInt16LE(at + 6) !== section.index) continue;
    const nameOffset = symbols.readUInt32LE(at);
    if (nameOffset >= strings.length) throw malformed(file, `symbol ${at / SYM_SIZE}: name offset outside its string table`);
    if (strings.compare(prefix, 0, prefix.length, nameOffset, Math.min(strings.length, nameOffset + prefix.length)) !== 0) continue;
    const end = strings.indexOf(0, nameOffset);
    if (end < 0) throw malformed(file, `symbol ${at / SYM_SIZE}: name is not NUL-terminated`);
    const value = symbols.readBigUInt64LE(at + 8);
    const symSize = symbols.readBigUInt64LE(at + 16);
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || symSize > BigInt(Number.MAX_SAFE_INTEGER)) throw malformed(file, `symbol ${at / SYM_SIZE}: absurd value or size`);
    found.push({ name: strings.toString('latin1', nameOffset, end), value: Number(value), size: Number(symSize) });
  }
  return { section, source: { bytes, addr: Number(section.addr), symbols: found } };
}
