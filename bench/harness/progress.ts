/**
 * One progress line on stderr: a bar over the scenario steps, elapsed time, what runs now. On a
 * terminal it is redrawn in place; otherwise (a log file) each change is its own line.
 */
const BAR_WIDTH = 20;

export interface Progress {
  step(label: string): void;
  note(text: string): void;
  done(): void;
}

export function createProgress(total: number): Progress {
  const tty = process.stderr.isTTY;
  const t0 = performance.now();
  let done = 0;
  let label = '';
  function draw(text: string): void {
    const filled = Math.round((BAR_WIDTH * done) / total);
    const elapsed = Math.round((performance.now() - t0) / 1000);
    const line = `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${done}/${total} ${elapsed}s ${label}: ${text}`;
    if (tty) process.stderr.write(`\r\x1b[K${line.slice(0, (process.stderr.columns ?? 120) - 1)}`);
    else process.stderr.write(`${line}\n`);
  }
  return {
    step(next) {
      if (label !== '') done++;
      label = next;
      draw('start');
    },
    note: draw,
    done() {
      if (label !== '') done++;
      if (tty) process.stderr.write('\r\x1b[K');
    },
  };
}
