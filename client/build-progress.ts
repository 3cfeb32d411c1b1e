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
/** What the text beside the bar usually takes; the bar gets the rest of the width, within its bounds. */
const TEXT_WIDTH = 60;
/** A module name shorter than this says nothing: drop it instead. */
const MIN_NAME_WIDTH = 8;

/**
 * The progress line for a terminal `columns` wide, never longer than `columns - 1` (writing the
 * last column makes some terminals wrap): `btfd build [bar] done/total pct%  ETA  counts  module`.
 * The bar's width depends on the terminal only, so it does not jitter with the module names. What
 * does not fit goes in this order: the counts (the summary has them), the module name (shortened
 * first), bar width, the ETA.
 */
export function formatProgressLine(state: ProgressState, columns: number): string {
  const width = Math.max(1, columns - 1);
  const percent = state.total === 0 ? 100 : Math.floor((100 * state.done) / state.total);
  const shown = {
    bar: Math.min(BAR_WIDTH, Math.max(MIN_BAR_WIDTH, width - TEXT_WIDTH)),
    eta: state.etaSeconds !== null && Number.isFinite(state.etaSeconds) && state.done < state.total ? `ETA ${formatDuration(state.etaSeconds)}` : '',
    counts: MODULE_OUTCOMES.filter((o) => state.counts[o] > 0).map((o) => `${state.counts[o]} ${o}`).join(', '),
    name: state.current ?? '',
  };
  const render = (): string => {
    const filled = state.total === 0 ? shown.bar : Math.round((shown.bar * state.done) / state.total);
    const parts = [`${state.done}/${state.total} ${percent}%`, shown.eta, shown.counts, shown.name].filter((part) => part !== '');
    return `${PREFIX} [${'#'.repeat(filled)}${'-'.repeat(shown.bar - filled)}] ${parts.join('  ')}`;
  };
  const over = (): number => render().length - width;
  const reductions: Array<() => void> = [
    () => { shown.counts = ''; },
    () => { shown.name = shown.name.length - over() - 1 >= MIN_NAME_WIDTH ? `…${shown.name.slice(over() + 1)}` : ''; },
    () => { shown.bar = Math.max(MIN_BAR_WIDTH, shown.bar - over()); },
    () => { shown.eta = ''; },
  ];
  for (const reduce of reductions) {
    if (over() <= 0) break;
    reduce();
  }
  return render().slice(0, width);
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
