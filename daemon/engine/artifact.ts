/**
 * An artifact is what the BTF step writes into a module — its output sections: `.BTF`,
 * `.BTF.base` when the base is distilled, and `.BTF_ids` as resolve_btfids leaves it — together
 * with the digests of the inputs it was computed from. It is stored as one blob, named by its
 * own sha256.
 *
 * The inputs travel inside the blob so that a blob can never be installed for inputs it was not
 * made from, whatever row or remote names it: the engine checks them against the plan before
 * installing. The sections alone have their own digest (sectionsDigest), which is what a module's
 * current output sections are compared with to find it fresh.
 */
import { createHash } from 'node:crypto';
import { BtfdError } from '../../shared/errors.js';
import type { KeyInputs } from './cache-key.js';

const ARTIFACT_MAGIC = Buffer.from('BTFDART2');
const SECTIONS_MAGIC = Buffer.from('BTFDOUT1');

/** Sections an artifact may hold: everything the BTF step (pahole, then resolve_btfids) writes. */
export const ARTIFACT_SECTION_NAMES: readonly string[] = ['.BTF', '.BTF.base', '.BTF_ids'];
/**
 * Sections left out of the module digest altogether. `.BTF_ids` is not among them: its size and
 * symbols are the module's own, only its contents are resolved (see elf.ts, btf/btf-ids.ts).
 */
export const DIGEST_EXCLUDED_SECTIONS: readonly string[] = ['.BTF', '.BTF.base'];

export interface Artifact {
  /** The digests it was computed from: its key's inputs. */
  readonly inputs: KeyInputs;
  readonly sections: ReadonlyMap<string, Buffer>;
}

const INPUT_NAMES: readonly (keyof KeyInputs)[] = ['base', 'flags', 'module', 'recipe', 'tool'];

function u32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32LE(value, 0);
  return buffer;
}

function pushEntries(parts: Buffer[], entries: readonly (readonly [string, Buffer])[]): void {
  parts.push(u32(entries.length));
  for (const [name, data] of [...entries].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    const nameBytes = Buffer.from(name, 'utf8');
    parts.push(u32(nameBytes.length), nameBytes, u32(data.length), data);
  }
}

/** `MAGIC, inputs, sections`, each a count then (name, data) pairs sorted by name, length-prefixed. */
export function encodeArtifact(artifact: Artifact): Buffer {
  const parts: Buffer[] = [ARTIFACT_MAGIC];
  pushEntries(parts, INPUT_NAMES.map((name) => [name, Buffer.from(artifact.inputs[name], 'utf8')] as const));
  pushEntries(parts, [...artifact.sections]);
  return Buffer.concat(parts);
}

/** Decode an artifact blob; a malformed one is a corrupt cache entry. */
export function decodeArtifact(blob: Buffer): Artifact {
  const corrupt = (why: string) => new BtfdError('BTFD_ERR_CACHE_CORRUPT', `artifact blob is malformed: ${why}`);
  if (blob.length < ARTIFACT_MAGIC.length || !blob.subarray(0, ARTIFACT_MAGIC.length).equals(ARTIFACT_MAGIC)) throw corrupt('bad magic');
  let offset = ARTIFACT_MAGIC.length;
  const read = (length: number): Buffer => {
    if (offset + length > blob.length) throw corrupt('truncated');
    const slice = blob.subarray(offset, offset + length);
    offset += length;
    return slice;
  };
  const readEntries = (): Map<string, Buffer> => {
    const count = read(4).readUInt32LE(0);
    const entries = new Map<string, Buffer>();
    for (let i = 0; i < count; i++) {
      const name = read(read(4).readUInt32LE(0)).toString('utf8');
      entries.set(name, Buffer.from(read(read(4).readUInt32LE(0))));
    }
    return entries;
  };
  const rawInputs = readEntries();
  const sections = readEntries();
  if (offset !== blob.length) throw corrupt('trailing bytes');
  const inputs = Object.fromEntries(INPUT_NAMES.map((name) => {
    const value = rawInputs.get(name);
    if (value === undefined) throw corrupt(`no ${name} input`);
    return [name, value.toString('utf8')];
  })) as unknown as KeyInputs;
  for (const name of sections.keys()) if (!ARTIFACT_SECTION_NAMES.includes(name)) throw corrupt(`unexpected section ${name}`);
  if (!sections.has('.BTF')) throw corrupt('no .BTF section');
  return { inputs, sections };
}

/** sha256 hex. */
export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * The digest of a set of output sections (an artifact's, or what a module holds now), or null for
 * none. Equal digests mean the module already holds exactly the artifact's sections.
 */
export function sectionsDigest(sections: ReadonlyMap<string, Buffer>): string | null {
  if (sections.size === 0) return null;
  const parts: Buffer[] = [SECTIONS_MAGIC];
  pushEntries(parts, [...sections]);
  return sha256(Buffer.concat(parts));
}

/** True when two artifacts' inputs are the same digests. */
export function sameInputs(a: KeyInputs, b: KeyInputs): boolean {
  return INPUT_NAMES.every((name) => a[name] === b[name]);
}
