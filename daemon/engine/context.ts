/**
 * A build's context: everything a module's key depends on besides the module itself — the tree,
 * the base's BTF digest (and its snapshot, which pahole reads), pahole's identity and the flags.
 * Resolved once per build, request or explain.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { BtfdError } from '../../shared/errors.js';
import { stampOf } from '../fs/file-stamp.js';
import type { Store } from '../store/store.js';
import { defaultBase, resolveTreeDir } from '../tree/module-tree.js';
import { readBaseBtf } from './base-btf.js';
import { resolvePaholeFlags, type ResolvedFlags } from './pahole-flags.js';
import { findExecutable, resolvePaholeTool, type PaholeTool } from './pahole-tool.js';

/** Everything a build of one tree keys on besides the module itself. */
export interface TreeContext {
  readonly dir: string;
  readonly base: string;
  readonly baseDigest: string;
  /** The base's BTF bytes as a raw file named by baseDigest: what pahole reads. */
  readonly baseSnapshot: string;
  readonly tool: PaholeTool;
  readonly flags: ResolvedFlags;
  /** Relocate cached artifacts from other bases (else regenerate them). */
  readonly relocate: boolean;
}

export interface ContextOptions {
  readonly store: Store;
  /** The pahole to run: a path, or a name looked up in searchPath. */
  readonly pahole: string;
  /** PATH for finding pahole and running a tree's scripts. */
  readonly searchPath: string;
  /** Whether builds relocate unless a request says otherwise. */
  readonly relocate: boolean;
  readonly log: Logger;
}

export interface ContextResolver {
  /**
   * Resolve a tree's context. `readOnly` (explain) reads the stat cache and base snapshots but
   * writes neither.
   */
  resolve(request: { dir: string; base?: string | undefined; paholeFlags?: string | undefined; relocate?: boolean | undefined }, readOnly?: boolean): Promise<TreeContext>;
  /** sha256 of a base's `.BTF` bytes (or of a raw BTF file), through the stat cache. */
  baseDigest(basePath: string, readOnly?: boolean): Promise<string>;
}

export function createContextResolver(options: ContextOptions): ContextResolver {
  const { store, searchPath } = options;
  const toolCache = new Map<string, Promise<PaholeTool>>();

  /** pahole's identity, recomputed only when the binary on disk changes. */
  async function resolveTool(): Promise<PaholeTool> {
    const found = await findExecutable(options.pahole, searchPath);
    if (!found) throw new BtfdError('BTFD_ERR_TOOL_PAHOLE_MISSING', `pahole not found (looked for "${options.pahole}")`);
    const info = await stat(found);
    const cacheKey = `${found}:${info.size}:${info.mtimeMs}:${info.ino}`;
    let tool = toolCache.get(cacheKey);
    if (!tool) {
      tool = resolvePaholeTool(found, searchPath);
      toolCache.clear();
      toolCache.set(cacheKey, tool);
      tool.catch(() => toolCache.delete(cacheKey));
    }
    return tool;
  }

  /**
   * The base's `.BTF` digest, through the stat cache like a module's: every drop-in call names the
   * base, and re-hashing megabytes of BTF per call would dominate a cache hit. Unless read-only, a
   * digest is only returned once its snapshot exists, so whatever pahole reads is what it names.
   */
  async function baseDigest(basePath: string, readOnly = false): Promise<string> {
    const info = await stat(basePath, { bigint: true }).catch(() => null);
    const stamp = info ? stampOf(info) : null;
    const known = stamp ? store.statCache.lookup(basePath, stamp) : null;
    if (known && (readOnly || store.bases.has(known.contentDigest))) return known.contentDigest;
    const { btf, digest } = await readBaseBtf(basePath);
    if (readOnly) return digest;
    await store.bases.put(btf);
    store.bases.prune();
    if (stamp) store.statCache.record(basePath, stamp, { contentDigest: digest, outputsDigest: null });
    return digest;
  }

  return {
    baseDigest,
    async resolve(request, readOnly = false) {
      const dir = await resolveTreeDir(request.dir);
      const base = path.resolve(dir, request.base ?? defaultBase(dir));
      const [digest, tool] = await Promise.all([baseDigest(base, readOnly), resolveTool()]);
      const flags = await resolvePaholeFlags({ treeDir: dir, explicit: request.paholeFlags, tool, searchPath, log: options.log });
      return { dir, base, baseDigest: digest, baseSnapshot: store.bases.pathOf(digest), tool, flags, relocate: request.relocate ?? options.relocate };
    },
  };
}
