/**
 * The action key: sha256 over a versioned, length-prefixed encoding of every input a module's BTF
 * depends on (BACKGROUND.md, "What a module's BTF depends on"). Length prefixes make the encoding
 * unambiguous, so no two different input lists can produce the same bytes.
 */
import { createHash } from 'node:crypto';
import type { KeyInput } from '../../shared/build-types.js';

/** Bump when the meaning of any input changes; old entries then simply stop matching. */
export const KEY_SCHEMA_VERSION = '2';

/** What the BTF step does, as opposed to with which tool and flags. */
export const RECIPE_SPLIT_BTF = 'pahole -J --btf_base BASE MODULE; resolve_btfids; sections .BTF,.BTF.base,.BTF_ids';

export interface KeyInputs {
  readonly recipe: string;
  /** pahole identity (binary, version, libraries). */
  readonly tool: string;
  /** Normalised flags. */
  readonly flags: string;
  /** Digest of the base's `.BTF` bytes. */
  readonly base: string;
  /** Content digest of the module, excluding output sections. */
  readonly module: string;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The key's inputs as named digests, in key order (for `btfd explain`). */
export function describeKey(inputs: KeyInputs): KeyInput[] {
  return [
    { name: 'schema', value: KEY_SCHEMA_VERSION, digest: sha256(KEY_SCHEMA_VERSION) },
    { name: 'recipe', value: inputs.recipe, digest: sha256(inputs.recipe) },
    { name: 'tool', value: 'pahole', digest: inputs.tool },
    { name: 'flags', value: inputs.flags, digest: sha256(inputs.flags) },
    { name: 'base', value: '.BTF bytes', digest: inputs.base },
    { name: 'module', value: 'content without output sections', digest: inputs.module },
  ];
}

/** sha256 hex of the length-prefixed encoding of the inputs. */
export function computeKey(inputs: KeyInputs): string {
  const hash = createHash('sha256');
  const fields = ['btfd-action-key', KEY_SCHEMA_VERSION, inputs.recipe, inputs.tool, inputs.flags, inputs.base, inputs.module];
  for (const field of fields) {
    const bytes = Buffer.from(field, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32LE(bytes.length, 0);
    hash.update(length).update(bytes);
  }
  return hash.digest('hex');
}
