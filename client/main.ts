#!/usr/bin/env node
/** The `btfd` executable: the only client file that touches `process`. */
import { runStatusFastPath } from './status-fast-path.js';

const onInterrupt = (handler: () => void): (() => void) => {
  // Once: a second Ctrl-C gets the default action and ends the process at once.
  process.once('SIGINT', handler);
  return () => process.off('SIGINT', handler);
};
// A reader that stops early (`btfd logs | head -1`) is not an error: stop writing, quietly.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(process.exitCode ?? 0);
  });
}
const setExitCode = (code: number): void => {
  process.exitCode = code;
};
const io = { stdout: process.stdout, stderr: process.stderr, onInterrupt };
if (!(await runStatusFastPath(process.argv.slice(2), process.env, io, setExitCode))) {
  const { buildProgram, runProgram } = await import('./cli.js');
  await runProgram(buildProgram(process.env, io, setExitCode), process.argv, setExitCode);
}
