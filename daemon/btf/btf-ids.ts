/**
 * `.BTF_ids`, in process, exactly as the kernel's tools/bpf/resolve_btfids writes it (6.1 and
 * 6.12 main.c, which agree on everything here):
 *
 * - Symbols in `.BTF_ids` named `__BTF_ID__{struct,union,typedef,func}__NAME__N` are id slots: each
 *   gets the first type id, in base-then-split order, of that kind and NAME (0 and a warning when
 *   there is none). Symbols sharing a NAME share the id.
 * - `__BTF_ID__set__NAME` / `__BTF_ID__set8__NAME` start a set: the first u32 gets the member count
 *   (symbol size / 4 − 1, resp. / 8 − 1), then the members (u32 ids, resp. {u32 id, u32 flags}
 *   pairs, the set8 header's own flags word kept) are sorted by id with glibc's qsort, which is a
 *   stable merge sort: members with equal ids keep their order, and set8 flags travel with ids.
 * - Patching goes tree by tree (structs, unions, typedefs, funcs, sets), names in the order of
 *   resolve_btfids' rb-trees (descending), then sets are sorted in the same order.
 *
 * Because sorting moves set8 flags away from the slot their symbol names, resolving twice is not
 * idempotent, and the bytes before resolution ("pristine", as the linker wrote them) cannot be
 * read back by zeroing. {@link pristineBtfIds} undoes a resolution: it recomputes each slot's id
 * from a BTF the section was resolved against, checks that the stable sort of those ids gives
 * exactly the bytes found, and only then puts every flags word back in its slot. The module digest
 * is taken over those pristine bytes, so resolving (by btfd or by kbuild) never changes a module's
 * key, while a changed KF_* flag does.
 */
import { BtfdError } from '../../shared/errors.js';
import { BTF_KIND } from './btf-reader.js';
import type { NameLookup } from './btf-names.js';

export const BTF_IDS_SECTION = '.BTF_ids';
const BTF_ID_PREFIX = '__BTF_ID__';
/** resolve_btfids' ADDR_CNT: slots one name may have. */
const MAX_ADDRS_PER_NAME = 100;

/** A symbol defined in `.BTF_ids` whose name starts with `__BTF_ID__`. */
export interface BtfIdsSymbol {
  readonly name: string;
  /** st_value: for a module (ET_REL, sh_addr 0), the offset in the section. */
  readonly value: number;
  readonly size: number;
}

/** What resolving needs from the ELF file. */
export interface BtfIdsSource {
  /** The section's current contents. */
  readonly bytes: Buffer;
  /** The section's sh_addr (0 in a module). */
  readonly addr: number;
  /** Its `__BTF_ID__` symbols, in symbol table order. */
  readonly symbols: readonly BtfIdsSymbol[];
}

/** One name to resolve and every slot (section offset) that receives its id. */
interface IdName {
  readonly kind: number;
  readonly name: string;
  readonly offsets: number[];
}

/** One set or set8: where it starts and how many members its symbol size gives. */
interface IdSet {
  readonly name: string;
  readonly set8: boolean;
  readonly offset: number;
  readonly count: number;
}

/** The parsed slot layout of a `.BTF_ids` section. */
export interface BtfIdsLayout {
  readonly size: number;
  /** Id names per kind, each in resolve_btfids' patch order. */
  readonly trees: readonly (readonly IdName[])[];
  readonly sets: readonly IdSet[];
}

/** Result of resolving. */
export interface ResolvedBtfIds {
  readonly bytes: Buffer;
  /** resolve_btfids' WARN lines for names that resolved to nothing. */
  readonly warnings: readonly string[];
}

const TREE_KINDS: readonly { prefix: string; kind: number }[] = [
  { prefix: 'struct', kind: BTF_KIND.STRUCT },
  { prefix: 'union', kind: BTF_KIND.UNION },
  { prefix: 'typedef', kind: BTF_KIND.TYPEDEF },
  { prefix: 'func', kind: BTF_KIND.FUNC },
];

function invalid(detail: string): never {
  throw new BtfdError('BTFD_ERR_MODULE_BTF_IDS_INVALID', `.BTF_ids: ${detail}`);
}

/** resolve_btfids' get_id(): "__NAME__N" → "NAME"; undefined where it would fail. */
function idName(afterPrefix: string): string | undefined {
  if (afterPrefix.length <= 2) return undefined;
  const id = afterPrefix.slice(2);
  const lastUnderscore = id.lastIndexOf('_');
  if (lastUnderscore < 1 || id[lastUnderscore - 1] !== '_') return undefined;
  return id.slice(0, lastUnderscore - 1);
}

/** The u32 a slot's id is written to: resolve_btfids indexes the section as an int array. */
function slotWord(offset: number, size: number): number {
  const word = Math.floor(offset / 4) * 4;
  if (word + 4 > size) invalid(`slot at ${offset} lies beyond the section`);
  return word;
}

/** Descending byte order: the in-order walk of resolve_btfids' rb-trees (see btf_id__add). */
function descending(a: string, b: string): number {
  return a < b ? 1 : a > b ? -1 : 0;
}

/** Parse the `__BTF_ID__` symbols into slots and sets, failing where resolve_btfids fails. */
export function parseBtfIdsLayout(source: BtfIdsSource): BtfIdsLayout {
  const trees = TREE_KINDS.map(() => new Map<string, IdName>());
  const sets = new Map<string, IdSet>();
  const offsetOf = (value: number, name: string): number => {
    const offset = value - source.addr;
    if (offset < 0 || offset >= source.bytes.length) invalid(`${name} lies outside the section`);
    return offset;
  };
  for (const symbol of source.symbols) {
    if (!symbol.name.startsWith(BTF_ID_PREFIX)) continue;
    const prefix = symbol.name.slice(BTF_ID_PREFIX.length);
    const tree = TREE_KINDS.findIndex((t) => prefix.startsWith(t.prefix));
    if (tree >= 0) {
      const { kind, prefix: word } = TREE_KINDS[tree]!;
      const name = idName(prefix.slice(word.length));
      if (name === undefined) invalid(`cannot parse symbol name ${symbol.name}`);
      const entry = trees[tree]!.get(name) ?? { kind, name, offsets: [] };
      trees[tree]!.set(name, entry);
      if (entry.offsets.length >= MAX_ADDRS_PER_NAME) invalid(`symbol ${name} has more than ${MAX_ADDRS_PER_NAME} slots`);
      entry.offsets.push(offsetOf(symbol.value, symbol.name));
      continue;
    }
    const set8 = prefix.startsWith('set8');
    if (!set8 && !prefix.startsWith('set')) invalid(`unsupported prefix in ${symbol.name}`);
    const name = prefix.slice(set8 ? 'set8__'.length : 'set__'.length);
    if (name.length === 0) invalid(`cannot parse set name ${symbol.name}`);
    if (sets.has(name)) invalid(`set ${name} is defined twice`);
    sets.set(name, { name, set8, offset: offsetOf(symbol.value, symbol.name), count: Math.floor(symbol.size / (set8 ? 8 : 4)) - 1 });
  }
  const byName = <T extends { name: string }>(entries: Iterable<T>): T[] => [...entries].sort((a, b) => descending(a.name, b.name));
  return { size: source.bytes.length, trees: trees.map((t) => byName(t.values())), sets: byName(sets.values()) };
}

/** Where a set's members are, checked against the section (C would read out of bounds). */
function memberRegion(set: IdSet, bytes: Buffer): { start: number; stride: number; count: number } {
  const stride = set.set8 ? 8 : 4;
  const start = set.offset + (set.set8 ? 8 : 4);
  const count = bytes.readInt32LE(set.offset);
  if (count < 0 || start + count * stride > bytes.length) invalid(`set ${set.name} has ${count} members, beyond the section`);
  return { start, stride, count };
}

/** glibc qsort as resolve_btfids calls it: stable, by the first u32 read as int. */
function sortMembers(bytes: Buffer, set: IdSet): void {
  const { start, stride, count } = memberRegion(set, bytes);
  const members = Array.from({ length: count }, (_, i) => Buffer.from(bytes.subarray(start + i * stride, start + (i + 1) * stride)));
  members.sort((a, b) => a.readInt32LE(0) - b.readInt32LE(0));
  members.forEach((m, i) => m.copy(bytes, start + i * stride));
}

/** Check the section has room for a set's header before anything reads it. */
function checkSetHeader(set: IdSet, size: number): void {
  if (set.offset + (set.set8 ? 8 : 4) > size) invalid(`set ${set.name} header lies beyond the section`);
}

/**
 * Resolve a pristine `.BTF_ids` against a BTF (base + the module's split BTF, through `lookup`).
 * Returns new bytes; `pristine` is not modified.
 */
export function resolveBtfIds(layout: BtfIdsLayout, pristine: Buffer, lookup: NameLookup): ResolvedBtfIds {
  if (pristine.length !== layout.size) invalid(`section is ${pristine.length} bytes, expected ${layout.size}`);
  const bytes = Buffer.from(pristine);
  const warnings: string[] = [];
  const write = (offset: number, value: number): void => {
    bytes.writeInt32LE(value, slotWord(offset, bytes.length));
  };
  for (const tree of layout.trees) {
    for (const entry of tree) {
      const id = lookup(entry.kind, entry.name);
      if (id === 0) warnings.push(`WARN: resolve_btfids: unresolved symbol ${entry.name}`);
      for (const offset of entry.offsets) write(offset, id);
    }
  }
  for (const set of layout.sets) {
    checkSetHeader(set, bytes.length);
    write(set.offset, set.count);
  }
  for (const set of layout.sets) sortMembers(bytes, set);
  return { bytes, warnings };
}

/** True when a set's count word and member ids are all zero: nothing resolved it yet. */
function setIsPristine(bytes: Buffer, set: IdSet): boolean {
  if (bytes.readUInt32LE(set.offset) !== 0) return false;
  const stride = set.set8 ? 8 : 4;
  const start = set.offset + (set.set8 ? 8 : 4);
  const count = Math.max(0, set.count);
  for (let i = 0; i < count && start + i * stride + 4 <= bytes.length; i++) {
    if (bytes.readUInt32LE(start + i * stride) !== 0) return false;
  }
  return true;
}

/** Slot offset → the (kind, name) whose id is written there (later patches win, as in C). */
function slotNames(layout: BtfIdsLayout): Map<number, IdName> {
  const slots = new Map<number, IdName>();
  for (const tree of layout.trees) for (const entry of tree) for (const offset of entry.offsets) slots.set(slotWord(offset, layout.size), entry);
  return slots;
}

/**
 * The permutation a stable sort by each member's id (as `lookup` resolves it) applies to a set8,
 * if that sort reproduces the ids found in `current`; undefined when this lookup is not the BTF
 * the set was resolved against.
 */
function set8Permutation(current: Buffer, set: IdSet, slots: Map<number, IdName>, lookup: NameLookup): number[] | undefined {
  const start = set.offset + 8;
  const keys = Array.from({ length: set.count }, (_, i) => {
    const slot = slots.get(start + i * 8);
    return slot === undefined ? 0 : lookup(slot.kind, slot.name);
  });
  const order = keys.map((_, i) => i).sort((a, b) => keys[a]! - keys[b]!);
  return order.every((from, j) => current.readInt32LE(start + j * 8) === keys[from]) ? order : undefined;
}

/** A resolved set8 whose members' flags differ: undoing its sort needs the BTF it was resolved with. */
function needsAttribution(current: Buffer, set: IdSet): boolean {
  if (!set.set8 || set.count <= 1 || setIsPristine(current, set)) return false;
  const start = set.offset + 8;
  if (start + set.count * 8 > current.length) invalid(`set8 ${set.name} of ${set.count} members runs beyond the section`);
  const first = current.readUInt32LE(start + 4);
  for (let j = 1; j < set.count; j++) if (current.readUInt32LE(start + j * 8 + 4) !== first) return true;
  return false;
}

/** True when {@link pristineBtfIds} will need candidate BTFs for this section. */
export function btfIdsNeedLookups(layout: BtfIdsLayout, current: Buffer): boolean {
  if (current.length !== layout.size) invalid(`section is ${current.length} bytes, expected ${layout.size}`);
  return layout.sets.some((set) => {
    checkSetHeader(set, current.length);
    return needsAttribution(current, set);
  });
}

/**
 * The section as the linker wrote it, from a possibly resolved one: every id slot and set count
 * zeroed, and each set8's flags words put back in the slots they were sorted away from.
 *
 * `lookups` are candidate BTFs (as name lookups) the section may have been resolved against; they
 * matter only for a resolved set8 whose flags differ between members (see btfIdsNeedLookups), and
 * a candidate is used only when it reproduces that set exactly. When none does, the flags cannot
 * be attributed and the module is refused with BTFD_ERR_MODULE_BTF_IDS_STALE rather than keyed on
 * a guess.
 */
export function pristineBtfIds(layout: BtfIdsLayout, current: Buffer, lookups: readonly NameLookup[]): Buffer {
  if (current.length !== layout.size) invalid(`section is ${current.length} bytes, expected ${layout.size}`);
  const pristine = Buffer.from(current);
  const slots = slotNames(layout);
  for (const set of layout.sets) {
    checkSetHeader(set, current.length);
    if (!needsAttribution(current, set)) continue;
    const start = set.offset + 8;
    const order = lookups.map((lookup) => set8Permutation(current, set, slots, lookup)).find((o) => o !== undefined);
    if (order === undefined) {
      throw new BtfdError(
        'BTFD_ERR_MODULE_BTF_IDS_STALE',
        `.BTF_ids set8 ${set.name} was resolved against a BTF btfd does not have, so its per-function flags cannot be attributed`,
      );
    }
    order.forEach((from, j) => {
      pristine.writeUInt32LE(current.readUInt32LE(start + j * 8 + 4), start + from * 8 + 4);
    });
  }
  for (const offset of slots.keys()) pristine.writeUInt32LE(0, offset);
  for (const set of layout.sets) {
    pristine.writeUInt32LE(0, set.offset);
    const stride = set.set8 ? 8 : 4;
    const start = set.offset + (set.set8 ? 8 : 4);
    for (let i = 0; i < set.count && start + i * stride + 4 <= pristine.length; i++) pristine.writeUInt32LE(0, start + i * stride);
  }
  return pristine;
}
