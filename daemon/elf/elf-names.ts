/**
 * The names a module's ELF file holds, for relocation's witness check (daemon/btf/relocate.ts):
 * the functions of its symbol table, the strings its DWARF refers to in `.debug_str`, and the
 * identifier runs of `.debug_info` (names DWARF stores inline).
 *
 * In a relocatable module every DW_FORM_strp (and every `.debug_str_offsets` entry) is a
 * relocation against `.debug_str` whose addend is the string's offset, so the referenced strings
 * come from the relocation sections alone, without parsing DIEs.
 */
import type { ModuleNames } from '../btf/relocate.js';
import { findUnique, readHeaders, readSectionBytes, SHT_RELA, SHT_SYMTAB, SYM_SIZE, withFile } from './elf-file.js';

const STT_FUNC = 2;
const STT_SECTION = 3;
const RELA_SIZE = 24;
/** Relocation sections whose targets name `.debug_str` strings. */
const DEBUG_STR_USERS = ['.rela.debug_info', '.rela.debug_str_offsets'];
/** A run of identifier characters ending at a NUL: an inline DW_FORM_string candidate. */
const IDENTIFIER_RUN = /[A-Za-z0-9_$.]+(?=\x00)/g;

/** Read a module's names; `dwarf` false skips the DWARF (only functions are needed). */
export async function readModuleNames(file: string, options: { readonly dwarf: boolean }): Promise<ModuleNames> {
  return withFile(file, async (fh, size) => {
    const { layout } = await readHeaders(fh, file, size);
    const functions = new Set<string>();
    const strpStrings = new Set<string>();
    const runs = new Set<string>();
    const symtab = layout.sections.find((s) => s.type === SHT_SYMTAB && s.entsize === SYM_SIZE);
    const strtab = symtab ? layout.sections[symtab.link] : undefined;
    if (!symtab || !strtab) return { functions, strpStrings, reversedRuns: [] };
    const symbols = await readSectionBytes(fh, symtab, file);
    const names = await readSectionBytes(fh, strtab, file);
    const nameAt = (offset: number): string => names.toString('latin1', offset, Math.max(offset, names.indexOf(0, offset)));
    for (let at = 0; at + SYM_SIZE <= symbols.length; at += SYM_SIZE) {
      if ((symbols[at + 4]! & 0xf) === STT_FUNC) functions.add(nameAt(symbols.readUInt32LE(at)));
    }
    if (!options.dwarf) return { functions, strpStrings, reversedRuns: [] };

    const debugStr = findUnique(layout, '.debug_str');
    if (debugStr) {
      const strings = await readSectionBytes(fh, debugStr, file);
      // Symbols standing for `.debug_str` itself (section symbols): relocations against them.
      const strSymbols = new Set<number>();
      for (let k = 0, at = 0; at + SYM_SIZE <= symbols.length; k++, at += SYM_SIZE) {
        if ((symbols[at + 4]! & 0xf) === STT_SECTION && symbols.readUInt16LE(at + 6) === debugStr.index) strSymbols.add(k);
      }
      for (const name of DEBUG_STR_USERS) {
        const rela = findUnique(layout, name);
        if (!rela || rela.type !== SHT_RELA) continue;
        const entries = await readSectionBytes(fh, rela, file);
        for (let at = 0; at + RELA_SIZE <= entries.length; at += RELA_SIZE) {
          if (!strSymbols.has(Number(entries.readBigUInt64LE(at + 8) >> 32n))) continue;
          const offset = Number(entries.readBigInt64LE(at + 16));
          if (offset >= 0 && offset < strings.length) strpStrings.add(strings.toString('latin1', offset, Math.max(offset, strings.indexOf(0, offset))));
        }
      }
    }
    const info = findUnique(layout, '.debug_info');
    if (info) for (const run of (await readSectionBytes(fh, info, file)).toString('latin1').match(IDENTIFIER_RUN) ?? []) runs.add(run);
    const reversedRuns = [...runs].map((run) => [...run].reverse().join('')).sort();
    return { functions, strpStrings, reversedRuns };
  });
}
