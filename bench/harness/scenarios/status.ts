/** `btfd status --json` against the running daemon (what an IDE polls) vs `node -e 0`. */
import { CLI } from '../btfd.js';
import { run } from '../run-process.js';
import type { Scenario } from '../scenario.js';

const CALLS_PER_ROUND = 15;

export const status: Scenario = {
  name: 'status',
  title: '`btfd status --json`',
  naive: 'node -e 0',
  unit: 'ms',
  goal: { kind: 'ratio', ratio: 2 },
  async run(round) {
    await round.coldBuild(); // the daemon runs
    round.progress('btfd status --json vs node -e 0');
    const naive: number[] = [];
    const btfd: number[] = [];
    for (let i = 0; i < CALLS_PER_ROUND; i++) {
      const [n, b] = await round.interleave(
        async () => (await run(process.execPath, ['-e', '0'])).seconds * 1000,
        async () => (await run(process.execPath, [CLI, 'status', '--json'], { env: round.btfd.env })).seconds * 1000,
      );
      naive.push(n);
      btfd.push(b);
    }
    return { naive, btfd };
  },
};
