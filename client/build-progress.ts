/**
 * Build progress for a terminal: one line that always fits the terminal's width — a bar,
 * done/total, the counts so far, the ETA and the module that just finished — drawn by cli-progress
 * and cleared when the build ends, so the summary line is what stays on screen. Before the plan it
 * says what the build waits for (the daemon starting, the modules being read). Nothing on a
 * non-TTY: the summary line follows either way.
 */
import cliProgress from 'cli-progress';
import path from 'node:path';
import type { BuildEvent } from '../shared/build-types.js';
import { MODULE_OUTCOMES, type ModuleOutcome } from '../shared/module-actions.js';
import { formatDuration } from './format.js';

export interface BuildProgress {
  /** The daemon answers: the build is being planned. */
  connected(): void;
  onEvent(event: BuildEvent): void;
  /** Clear the line (idempotent). */
  stop(): void;
}

/** What the progress line shows. */
export interface ProgressState {
  readonly done: number;
  readonly total: number;
  readonly counts: Readonly<Record<ModuleOutcome, number>>;
  /** Seconds left, or null while unknown. */
  readonly etaSeconds: number | null;
  /** The module that finished last. */
  readonly current: string | null;
}

const PREFIX = 'btfd build';
const BAR_WIDTH = 24;
const MIN_BAR_WIDTH = 8;
/** A module name shorter than this says nothing: drop it instead. */
const MIN_NAME_WIDTH = 8;

/**
 * The progress line for a terminal `columns` wide, never longer than `columns - 1` (writing the
 * last column makes some terminals wrap). What does not fit goes in this order: the module name
 * (shortened first), bar width, the ETA, the counts.
 */
export function formatProgressLine(state: ProgressState, columns: number): string {
  const width = Math.max(1, columns - 1);
  const percent = state.total === 0 ? 100 : Math.floor((100 * state.done) / state.total);
  const counts = MODULE_OUTCOMES.filter((o) => state.counts[o] > 0).map((o) => `${state.counts[o]} ${o}`).join(', ');
  const eta = state.etaSeconds !== null && Number.isFinite(state.etaSeconds) && state.done < state.total ? `ETA ${formatDuration(state.etaSeconds)}` : '';
  const parts = [`${state.done}/${state.total} ${percent}%`, counts, eta].filter((part) => part !== '');
  let name = state.current ?? '';
  let bar = BAR_WIDTH;
  const render = (): string => {
    const filled = state.total === 0 ? bar : Math.round((bar * state.done) / state.total);
    return `${PREFIX} [${'#'.repeat(filled)}${'-'.repeat(bar - filled)}] ${parts.join('  ')}${name === '' ? '' : `  ${name}`}`;
  };
  for (let line = render(); line.length > width; line = render()) {
    const over = line.length - width;
    if (name !== '') name = name.length - over - 1 >= MIN_NAME_WIDTH ? `…${name.slice(over + 1)}` : '';
    else if (bar > MIN_BAR_WIDTH) bar = Math.max(MIN_BAR_WIDTH, bar - over);
    else if (parts.length > 1) parts.pop();
    else return line.slice(0, width);
  }
  return render();
}

/** A progress reporter writing to `stream`; silent when it is not a TTY. */
export function createBuildProgress(stream: NodeJS.WriteStream): BuildProgress {
  if (!stream.isTTY) return { connected: () => undefined, onEvent: () => undefined, stop: () => undefined };
  const columns = (): number => stream.columns || 80;
  const counts = Object.fromEntries(MODULE_OUTCOMES.map((o) => [o, 0])) as Record<ModuleOutcome, number>;
  let current: string | null = null;
  let phase: string | null = null;
  const bar = new cliProgress.SingleBar(
    {
      stream,
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 50,
      format: (_options, params) => formatProgressLine({
        done: params.value, total: params.total, counts, current,
        etaSeconds: Number.isFinite(params.eta) && params.value > 0 ? params.eta : null,
      }, columns()),
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  let stopped = false;
  /** A line about the phase before the plan, replacing the previous one. */
  const say = (text: string): void => {
    phase = text;
    stream.write(`\r\x1b[2K${text.slice(0, columns() - 1)}`);
  };
  say(`${PREFIX}: connecting to the daemon (it starts when none runs)…`);
  return {
    connected() {
      if (!started && !stopped) say(`${PREFIX}: reading the modules…`);
    },
    onEvent(event) {
      if (stopped) return;
      if (event.type === 'planned') {
        if (phase !== null) stream.write('\r\x1b[2K');
        phase = null;
        bar.start(event.total, 0);
        started = true;
      } else if (started) {
        counts[event.result.outcome]++;
        current = path.basename(event.result.path);
        bar.update(event.done);
      }
    },
    stop() {
      if (stopped) return;
      stopped = true;
      if (started) bar.stop();
      else if (phase !== null) stream.write('\r\x1b[2K');
    },
  };
}
