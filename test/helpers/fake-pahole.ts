/**
 * A fake pahole for the btfd-pahole shim's tests: a sh script that logs every call (its cwd and
 * its argv, byte for byte) and answers with a configurable exit status, stdout and stderr. The
 * shim must hand it exactly what kbuild handed the shim, so the log is NUL-separated: arguments
 * with newlines, quotes or backslashes come back intact.
 */
import fs from 'node:fs';
import path from 'node:path';

/** One logged call. */
export interface FakePaholeCall {
  readonly cwd: string;
  readonly args: readonly string[];
}

/** How the fake answers; passed through the environment, so one script serves every case. */
export interface FakePaholeBehaviour {
  readonly status?: number;
  readonly stdout?: string;
  readonly stderr?: string;
}

export interface FakePahole {
  /** The script (absolute, executable), named `pahole`. */
  readonly path: string;
  readonly logPath: string;
  /** Every call so far, oldest first. */
  calls(): FakePaholeCall[];
  /** Forget the calls so far. */
  reset(): void;
  /** Environment variables that make the next calls answer with `behaviour`. */
  env(behaviour?: FakePaholeBehaviour): Record<string, string>;
}

const RECORD_START = 'CALL';

// Each record: CALL\0<cwd>\0<argc>\0<arg>\0...; `pwd -P` so it compares with realpath'd dirs.
const SCRIPT = `#!/bin/sh
{
  printf '${RECORD_START}\\000%s\\000%s\\000' "$(pwd -P)" "$#"
  for arg do printf '%s\\000' "$arg"; done
} >> "$FAKE_PAHOLE_LOG"
if [ -n "\${FAKE_PAHOLE_STDOUT-}" ]; then printf '%s' "$FAKE_PAHOLE_STDOUT"; fi
if [ -n "\${FAKE_PAHOLE_STDERR-}" ]; then printf '%s' "$FAKE_PAHOLE_STDERR" >&2; fi
exit "\${FAKE_PAHOLE_STATUS:-0}"
`;

/** Write a fake `pahole` into `dir/fake-bin/` and its log next to it. */
export function createFakePahole(dir: string): FakePahole {
  const binDir = path.join(dir, 'fake-bin');
  fs.mkdirSync(binDir, { recursive: true });
  const script = path.join(binDir, 'pahole');
  const logPath = path.join(dir, 'fake-pahole.log');
  fs.writeFileSync(script, SCRIPT, { mode: 0o755 });
  fs.writeFileSync(logPath, '');
  return {
    path: script,
    logPath,
    calls() {
      const fields = fs.readFileSync(logPath, 'latin1').split('\0');
      const calls: FakePaholeCall[] = [];
      let i = 0;
      while (i < fields.length - 1) {
        if (fields[i] !== RECORD_START) throw new Error(`fake pahole log: expected a record at field ${i}, got ${JSON.stringify(fields[i])}`);
        const cwd = fields[i + 1] ?? '';
        const argc = Number(fields[i + 2]);
        const args = fields.slice(i + 3, i + 3 + argc).map((arg) => Buffer.from(arg, 'latin1').toString('utf8'));
        calls.push({ cwd: Buffer.from(cwd, 'latin1').toString('utf8'), args });
        i += 3 + argc;
      }
      return calls;
    },
    reset() {
      fs.writeFileSync(logPath, '');
    },
    env(behaviour = {}) {
      return {
        FAKE_PAHOLE_LOG: logPath,
        FAKE_PAHOLE_STATUS: String(behaviour.status ?? 0),
        FAKE_PAHOLE_STDOUT: behaviour.stdout ?? '',
        FAKE_PAHOLE_STDERR: behaviour.stderr ?? '',
      };
    },
  };
}
