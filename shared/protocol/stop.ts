/**
 * `POST /v1/stop`: the daemon answers, then shuts down (drain in-flight work, close the engine,
 * exit). The process is gone once `pid` no longer exists.
 */
import { Type, type Static } from '@sinclair/typebox';

export { STOP_ROUTE } from './routes.js';

export const StopResponse = Type.Object({
  stopping: Type.Literal(true),
  pid: Type.Integer(),
});
export type StopResponse = Static<typeof StopResponse>;
