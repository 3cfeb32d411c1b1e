/**
 * `btfd status` and `btfd status --json`, run without the command-line parser: that is what IDEs
 * and shell prompts poll, so its start cost should be Node's own plus one request, not commander
 * as well (measured in BENCHMARKS.md, "CLI start"). Any other command line, options included,
 * goes through client/cli.ts, which runs the same statusCommand with the same config.
 */
import { resolveConfig } from '../shared/config.js';
import type { CommandIo } from './daemon-commands.js';
import { EXIT_COMMAND_FAILED, formatError } from './format.js';

/** The argv (after `btfd`) this path takes, and whether it asks for JSON. */
function plainStatus(args: readonly string[]): { json: boolean } | null {
  if (args.length === 1 && args[0] === 'status') return { json: false };
  if (args.length === 2 && args[0] === 'status' && args[1] === '--json') return { json: true };
  return null;
}

/**
 * Run `args` if it is a plain `status [--json]`; false (nothing done) for anything else.
 * `setExitCode` gets the status command's exit code.
 */
export async function runStatusFastPath(args: readonly string[], env: NodeJS.ProcessEnv, io: CommandIo, setExitCode: (code: number) => void): Promise<boolean> {
  const plain = plainStatus(args);
  if (plain === null) return false;
  try {
    const { statusCommand } = await import('./daemon-commands.js');
    setExitCode(await statusCommand(resolveConfig({ env }), plain, io));
  } catch (err) {
    io.stderr.write(`${formatError(err)}\n`);
    setExitCode(EXIT_COMMAND_FAILED);
  }
  return true;
}
