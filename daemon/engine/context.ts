/**
 * A build's context: everything a module's key depends on besides the module itself — the tree,
 * the base's BTF digest (and its snapshot, which pahole reads), pahole's identity and the flags.
 * Resolved once per build, request or explain, from the request: its pahole, flags and base are
 * its own (the daemon's default pahole only stands in when a request names none). Resolving
 * validates them: a program that is not pahole, or flags pahole refuses, fail here, once, before
 * any module runs.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { resolveTree, type ResolvedTree } from '../fs/containment.js';
import { stampOf } from '../fs/file-stamp.js';
import type { Store } from '../store/store.js';
import { defaultBase, resolveTreeDir } from '../tree/module-tree.js';
import { readBaseBtf } from './base-btf.js';
import { paholeArgs, resolvePaholeFlags, type ResolvedFlags } from './pahole-flags.js';
import { checkPaholeAccepts, findExecutable, resolvePaholeTool, type PaholeTool } from './pahole-tool.js';

/** pahole identities kept at once (requests may name several paholes). */
const TOOLS_KEPT = 8;
/** Accepted (pahole, flags) probes kept at once. */
const PROBES_KEPT = 64;

/** Everything a build of one tree keys on besides the module itself. */
export interface TreeContext {
  readonly dir: string;
  /** The tree's real path as the build began: what every write is checked to lie inside. */
  readonly realTree: ResolvedTree;
  readonly base: string;
  readonly baseDigest: string;
  /** The base's BTF bytes as a raw file named by baseDigest: what pahole reads. */
  readonly baseSnapshot: string;
  readonly tool: PaholeTool;
  readonly flags: ResolvedFlags;
  /** Relocate cached artifacts from other bases (else regenerate them). */
  readonly relocate: boolean;
  /** The build's cancellation: work still waiting for a worker is dropped once it fires. */
  readonly signal?: AbortSignal;
}

/** What a context is resolved from: a build, watch or explain request. */
export interface ContextRequest {
  readonly dir: string;
  readonly base?: string | undefined;
  readonly paholeFlags?: string | undefined;
  /** The pahole to run: a path, or a name on the daemon's PATH; default: the daemon's. */
  readonly pahole?: string | undefined;
  readonly relocate?: boolean | undefined;
}

export interface ContextOptions {
  readonly store: Store;
  /** The pahole of requests that name none: a path, or a name looked up in searchPath. */
  readonly pahole: string;
  /** PATH for finding pahole and running a tree's scripts. */
  readonly searchPath: string;
  /** Whether builds relocate unless a request says otherwise. */
  readonly relocate: boolean;
}

export interface ContextResolver {
  /**
   * Resolve a tree's context. `readOnly` (explain) reads the stat cache and base snapshots but
   * writes neither.
   */
  resolve(request: ContextRequest, readOnly?: boolean): Promise<TreeContext>;
  /** sha256 of a base's `.BTF` bytes (or of a raw BTF file), through the stat cache. */
  baseDigest(basePath: string, readOnly?: boolean): Promise<string>;
  /** pahole's identity: the request's, or the daemon's default. */
  tool(pahole?: string): Promise<PaholeTool>;
}

/** Remember `key` in a bounded insertion-ordered map, dropping the oldest entry. */
function remember<K, V>(map: Map<K, V>, key: K, value: V, limit: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > limit) map.delete(map.keys().next().value as K);
}

export function createContextResolver(options: ContextOptions): ContextResolver {
  const { store, searchPath } = options;
  const toolCache = new Map<string, Promise<PaholeTool>>();
  const acceptedFlags = new Map<string, true>();

  /** pahole's identity, recomputed only when the binary on disk changes. */
  async function resolveTool(name: string = options.pahole): Promise<PaholeTool> {
    const found = await findExecutable(name, searchPath);
    // Not found: resolvePaholeTool says why (missing, or not an executable).
    if (!found) return resolvePaholeTool(name, searchPath);
    const info = await stat(found);
    const cacheKey = `${found}:${info.size}:${info.mtimeMs}:${info.ino}`;
    let tool = toolCache.get(cacheKey);
    if (!tool) {
      tool = resolvePaholeTool(found, searchPath);
      remember(toolCache, cacheKey, tool, TOOLS_KEPT);
      tool.catch(() => toolCache.delete(cacheKey));
    }
    return tool;
  }

  /** The flags as pahole will get them, probed once per pahole identity and flags. */
  async function checkFlags(tool: PaholeTool, flags: ResolvedFlags): Promise<void> {
    const probe = `${tool.identity}\0${flags.flags}`;
    if (acceptedFlags.has(probe)) return;
    await checkPaholeAccepts(tool, paholeArgs(flags.flags));
    remember(acceptedFlags, probe, true, PROBES_KEPT);
  }

  /**
   * The base's `.BTF` digest, through the stat cache like a module's: every drop-in call names the
   * base, and re-hashing megabytes of BTF per call would dominate a cache hit. Unless read-only, a
   * digest is only returned once its snapshot exists, so whatever pahole reads is what it names.
   */
  async function baseDigest(basePath: string, readOnly = false): Promise<string> {
    const statTakenMs = Date.now();
    const info = await stat(basePath, { bigint: true }).catch(() => null);
    const stamp = info ? stampOf(info) : null;
    const known = stamp ? store.statCache.lookup(basePath, stamp) : null;
    if (known && (readOnly || store.bases.has(known.contentDigest))) return known.contentDigest;
    const { btf, digest } = await readBaseBtf(basePath);
    if (readOnly) return digest;
    await store.bases.put(btf);
    store.bases.prune();
    if (stamp) store.statCache.record(basePath, stamp, { contentDigest: digest, outputsDigest: null }, statTakenMs);
    return digest;
  }

  return {
    baseDigest,
    tool: resolveTool,
    async resolve(request, readOnly = false) {
      const dir = await resolveTreeDir(request.dir);
      const realTree = await resolveTree(dir);
      const base = path.resolve(dir, request.base ?? defaultBase(dir));
      const [digest, tool] = await Promise.all([baseDigest(base, readOnly), resolveTool(request.pahole)]);
      const flags = await resolvePaholeFlags({ treeDir: dir, explicit: request.paholeFlags, tool, searchPath });
      await checkFlags(tool, flags);
      return { dir, realTree, base, baseDigest: digest, baseSnapshot: store.bases.pathOf(digest), tool, flags, relocate: request.relocate ?? options.relocate };
    },
  };
}
