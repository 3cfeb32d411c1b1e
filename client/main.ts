#!/usr/bin/env node
/** The `btfd` executable: the only client file that touches `process`. */
import { buildProgram } from './cli.js';

const onInterrupt = (handler: () => void): (() => void) => {
  // Once: a second Ctrl-C gets the default action and ends the process at once.
  process.once('SIGINT', handler);
  return () => process.off('SIGINT', handler);
};
const program = buildProgram(process.env, { stdout: process.stdout, stderr: process.stderr, onInterrupt }, (code) => {
  process.exitCode = code;
});
await program.parseAsync(process.argv);
