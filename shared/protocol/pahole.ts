/**
 * `POST /v1/pahole`: one pahole command line from the btfd-pahole drop-in, as kbuild ran it.
 * The daemon answers module BTF requests; anything else is refused with
 * BTFD_ERR_SHIM_UNHANDLED, and the shim runs the real pahole (as it does on any error).
 */
import { Type, type Static } from '@sinclair/typebox';
import { AbsolutePath, ModuleResultSchema } from './schemas.js';

export { PAHOLE_ROUTE } from './routes.js';

export const PaholeBody = Type.Object({
  /** pahole's arguments, without argv[0]. */
  args: Type.Array(Type.String()),
  /** The caller's working directory: relative paths in args are relative to it. */
  cwd: AbsolutePath,
}, { additionalProperties: false });
export type PaholeBody = Static<typeof PaholeBody>;

export const PaholeResponse = Type.Object({
  /** The module's result; `failed` never appears here (failures answer with an error). */
  result: ModuleResultSchema,
  /**
   * The module (in place) is newer than anything kbuild made before the call, as pahole's rewrite
   * leaves it: installed, or found fresh and its times set. The drop-in then forks no `touch`.
   */
  touched: Type.Optional(Type.Boolean()),
});
export type PaholeResponse = Static<typeof PaholeResponse>;
