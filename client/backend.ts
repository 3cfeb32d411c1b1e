/**
 * Where a CLI command's work happens: in the home's daemon (the default; autostarted when needed),
 * or, with `--no-daemon`, in a private one-shot daemon started for this command (oneshot.ts).
 * Both answer over the same protocol, so commands and their output do not care which one ran.
 */
import type { Config } from '../shared/config.js';
import { connectDaemon } from './connect.js';
import type { DaemonClient } from './daemon-client.js';
import { startOneshotDaemon } from './oneshot.js';

/** The daemon a command talks to, and how to let go of it. */
export interface Backend {
  readonly client: DaemonClient;
  close(): Promise<void>;
}

/** The home's daemon; notes (e.g. "restarted a daemon of another version") go to `note`. */
export async function daemonBackend(config: Config, note: (text: string) => void): Promise<Backend> {
  const client = await connectDaemon(config, { autostart: true });
  for (const text of client.notes) note(text);
  return { client, close: async () => client.close() };
}

/** A one-shot daemon for this command alone (`--no-daemon`). */
export async function oneshotBackend(config: Config): Promise<Backend> {
  const oneshot = await startOneshotDaemon(config);
  return { client: oneshot.client, close: () => oneshot.close() };
}
