#!/usr/bin/env node
/** The `btfd` executable: the only client file that touches `process`. */
import { buildProgram } from './cli.js';

const program = buildProgram(process.env, { stdout: process.stdout, stderr: process.stderr }, (code) => {
  process.exitCode = code;
});
await program.parseAsync(process.argv);
