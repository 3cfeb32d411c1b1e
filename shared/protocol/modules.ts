/** `GET /v1/modules?dir=/abs/dir`: what btfd remembers of each module (all modules without dir). */
import { Type, type Static } from '@sinclair/typebox';
import { AbsolutePath, ModuleStateSchema } from './schemas.js';

export { MODULES_ROUTE } from './routes.js';

export const ModulesQuery = Type.Object({
  dir: Type.Optional(AbsolutePath),
}, { additionalProperties: false });
export type ModulesQuery = Static<typeof ModulesQuery>;

export const ModulesResponse = Type.Object({ modules: Type.Array(ModuleStateSchema) });
export type ModulesResponse = Static<typeof ModulesResponse>;
