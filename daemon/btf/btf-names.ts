/**
 * Name lookup the way resolve_btfids does it: for a kind (func, struct, union, typedef) and a name,
 * the first type id in base-then-split order with exactly that kind and name.
 *
 * A base's index is built once and shared by every module split on it; a module's own index is
 * small. Names are latin1 strings, so any byte sequence compares exactly.
 */
import { BTF_KIND, stringAt, type Btf } from './btf-reader.js';

/** The kinds resolve_btfids resolves by name. */
export const NAMED_ID_KINDS: ReadonlySet<number> = new Set([BTF_KIND.FUNC, BTF_KIND.STRUCT, BTF_KIND.UNION, BTF_KIND.TYPEDEF]);

/** First id per `kind:name` among one blob's own types. */
export type NameIndex = ReadonlyMap<string, number>;

function entryKey(kind: number, name: string): string {
  return `${kind}:${name}`;
}

/** Index one blob's own types of the resolvable kinds (not its base's). */
export function buildNameIndex(btf: Btf): NameIndex {
  const index = new Map<string, number>();
  for (let i = 0; i < btf.count; i++) {
    const kind = btf.kinds[i]!;
    if (!NAMED_ID_KINDS.has(kind)) continue;
    const key = entryKey(kind, stringAt(btf, btf.nameOffsets[i]!) ?? '');
    if (!index.has(key)) index.set(key, btf.firstId + i);
  }
  return index;
}

/** Resolves (kind, name) to the first matching id in base order, then split; 0 when none. */
export type NameLookup = (kind: number, name: string) => number;

/** A lookup over a chain of indexes, the base's first. */
export function chainLookup(indexes: readonly NameIndex[]): NameLookup {
  return (kind, name) => {
    const key = entryKey(kind, name);
    for (const index of indexes) {
      const id = index.get(key);
      if (id !== undefined) return id;
    }
    return 0;
  };
}
