/** The daemon's resident memory while it watches the tree (after its passes), and its peak. */
import { readFile } from 'node:fs/promises';
import type { Scenario } from '../scenario.js';

function kib(status: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  if (!m) throw new Error(`no ${field} in /proc status`);
  return Number(m[1]);
}

export const rss: Scenario = {
  name: 'rss',
  title: 'daemon RSS watching the tree',
  naive: '—',
  unit: 'MB',
  goal: { kind: 'at-most', value: 150 },
  async run(round) {
    await round.watching();
    const { pid } = await round.btfd.status();
    const proc = await readFile(`/proc/${pid}/status`, 'utf8');
    return { naive: [], btfd: [kib(proc, 'VmRSS') / 1024], detail: { peakMB: Math.round(kib(proc, 'VmHWM') / 1024) } };
  },
};
