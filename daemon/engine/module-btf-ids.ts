/**
 * A module's `.BTF_ids` in the engine: its pre-resolution form for the module digest, and its
 * resolution against the BTF an artifact installs. The rules themselves are in btf/btf-ids.ts;
 * this module chooses which BTF names the ids.
 *
 * resolve_btfids resolves a module against `-b vmlinux` plus the module's `.BTF`, except when the
 * module carries a distilled base (`.BTF.base`): then against that base plus `.BTF`.
 */
import { readFile } from 'node:fs/promises';
import { BtfdError } from '../../shared/errors.js';
import { buildNameIndex, chainLookup, type NameIndex, type NameLookup } from '../btf/btf-names.js';
import { btfIdsNeedLookups, parseBtfIdsLayout, pristineBtfIds, resolveBtfIds, type BtfIdsSource, type ResolvedBtfIds } from '../btf/btf-ids.js';
import { parseBtf, type Btf } from '../btf/btf-reader.js';
import { DIGEST_EXCLUDED_SECTIONS } from './artifact.js';
import type { DigestOptions } from '../elf/elf-digest.js';

/** A parsed base and the name index resolve_btfids would search first. */
export interface BaseView {
  readonly btf: Btf;
  readonly index: NameIndex;
}

export function viewOf(bytes: Buffer, what: string): BaseView {
  const btf = parseBtf(bytes, null, what);
  // Built on first use: checking a restore's split BTF needs the base, not its names.
  let index: NameIndex | undefined;
  return {
    btf,
    get index() {
      return (index ??= buildNameIndex(btf));
    },
  };
}

/**
 * Loads base snapshots (raw BTF files named by their digest) and keeps the last few parsed: every
 * module of a tree names the same base, and parsing vmlinux's BTF takes tens of milliseconds.
 */
export function createBaseViews(keep = 3): { load(file: string): Promise<BaseView> } {
  const cache = new Map<string, Promise<BaseView>>();
  return {
    load(file) {
      let view = cache.get(file);
      if (view === undefined) {
        view = readFile(file).then((bytes) => viewOf(bytes, file));
        view.catch(() => cache.delete(file));
        cache.set(file, view);
        while (cache.size > keep) cache.delete(cache.keys().next().value!);
      } else {
        cache.delete(file);
        cache.set(file, view);
      }
      return view;
    },
  };
}

/** Name lookup over base + split, or undefined when the split BTF does not parse on that base. */
export function splitLookup(base: BaseView | null, split: Buffer): NameLookup | undefined {
  if (base === null) return undefined;
  try {
    return chainLookup([base.index, buildNameIndex(parseBtf(split, base.btf, 'module .BTF'))]);
  } catch (err) {
    if (err instanceof BtfdError && err.code === 'BTFD_ERR_BTF_MALFORMED') return undefined;
    throw err;
  }
}

/** The base resolve_btfids would use for a module with these output sections. */
function resolutionBase(sections: ReadonlyMap<string, Buffer>, base: () => Promise<BaseView>): Promise<BaseView> {
  const distilled = sections.get('.BTF.base');
  return distilled ? Promise.resolve(viewOf(distilled, 'module .BTF.base')) : base();
}

/** A BTF a resolved `.BTF_ids` may have been resolved against: split sections and their base. */
export interface ResolutionCandidate {
  readonly sections: ReadonlyMap<string, Buffer>;
  readonly base: () => Promise<BaseView>;
}

/** Where to look for the BTF a module's `.BTF_ids` was resolved against. */
export interface BtfIdsCandidates {
  /** Bases the module's own `.BTF` may be split on, the current one first. */
  readonly bases: readonly (() => Promise<BaseView>)[];
  /** The artifact btfd last installed in this module, for when its `.BTF` is gone. */
  readonly previous?: () => Promise<ResolutionCandidate | null>;
}

async function lookupOf(candidate: ResolutionCandidate): Promise<NameLookup | undefined> {
  const split = candidate.sections.get('.BTF');
  if (split === undefined) return undefined;
  return splitLookup(await resolutionBase(candidate.sections, candidate.base).catch(() => null), split);
}

/**
 * The module's `.BTF_ids` as the linker wrote it. The candidates are read only when a resolved
 * kfunc set8 with mixed flags needs them: the module's own `.BTF` on each candidate base (or on
 * its distilled `.BTF.base`), then what btfd last installed in it.
 */
export async function canonicalBtfIds(source: BtfIdsSource, outputs: ReadonlyMap<string, Buffer>, candidates: BtfIdsCandidates): Promise<Buffer> {
  const layout = parseBtfIdsLayout(source);
  const lookups: NameLookup[] = [];
  if (btfIdsNeedLookups(layout, source.bytes)) {
    const own = outputs.has('.BTF.base') ? candidates.bases.slice(0, 1) : candidates.bases;
    const tried: (ResolutionCandidate | null)[] = own.map((base) => ({ sections: outputs, base }));
    tried.push(await (candidates.previous?.() ?? Promise.resolve(null)).catch(() => null));
    for (const candidate of tried) {
      const lookup = candidate ? await lookupOf(candidate) : undefined;
      if (lookup) lookups.push(lookup);
    }
  }
  return pristineBtfIds(layout, source.bytes, lookups);
}

/**
 * Resolve the module's `.BTF_ids` for the artifact whose sections are given (`.BTF`, and
 * `.BTF.base` when distilled), from its pre-resolution contents.
 */
export async function resolveForArtifact(
  source: BtfIdsSource, pristine: Buffer, sections: ReadonlyMap<string, Buffer>, base: () => Promise<BaseView>,
): Promise<ResolvedBtfIds> {
  const split = sections.get('.BTF');
  if (split === undefined) throw new BtfdError('BTFD_ERR_INTERNAL', 'resolving .BTF_ids needs the module .BTF');
  const view = await resolutionBase(sections, base);
  const lookup = splitLookup(view, split);
  if (lookup === undefined) throw new BtfdError('BTFD_ERR_BTF_MALFORMED', 'the encoded .BTF does not parse on its base');
  return resolveBtfIds(parseBtfIdsLayout(source), pristine, lookup);
}

/** How the engine digests a module: output sections left out, `.BTF_ids` in its pristine form. */
export function moduleDigestOptions(candidates: BtfIdsCandidates = { bases: [] }): DigestOptions {
  return { excluded: DIGEST_EXCLUDED_SECTIONS, canonicalBtfIds: (source, outputs) => canonicalBtfIds(source, outputs, candidates) };
}
