/** `POST /v1/kbuild/check`: is a kernel build dir ready for the btfd-pahole drop-in? */
import { Type, type Static } from '@sinclair/typebox';
import { AbsolutePath, PaholeName } from './schemas.js';

export { KBUILD_CHECK_ROUTE } from './routes.js';

export const KbuildCheckBody = Type.Object({ dir: AbsolutePath, pahole: Type.Optional(PaholeName) }, { additionalProperties: false });
export type KbuildCheckBody = Static<typeof KbuildCheckBody>;

export const TreeCheckLineSchema = Type.Object({ ok: Type.Boolean(), line: Type.String() });
export type TreeCheckLine = Static<typeof TreeCheckLineSchema>;

export const KbuildCheckResponse = Type.Object({
  checks: Type.Array(TreeCheckLineSchema),
  /** pahole's version as 1.24 → 124; 0 when pahole could not be run. */
  paholeVersion: Type.Integer(),
});
export type TreeCheck = Static<typeof KbuildCheckResponse>;
