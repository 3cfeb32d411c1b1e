/**
 * Build progress for a terminal: a cli-progress bar on a TTY, nothing otherwise (the summary line
 * follows either way). Kept apart from the commands so the daemon and in-process paths share it.
 */
import cliProgress from 'cli-progress';
import type { BuildEvent } from '../shared/build-types.js';
import { MODULE_OUTCOMES, type ModuleOutcome } from '../shared/module-actions.js';

export interface BuildProgress {
  onEvent(event: BuildEvent): void;
  stop(): void;
}

/** A progress reporter writing to `stream`; silent when it is not a TTY. */
export function createBuildProgress(stream: NodeJS.WriteStream): BuildProgress {
  if (!stream.isTTY) return { onEvent: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: `btfd build |{bar}| {value}/{total} modules | ${MODULE_OUTCOMES.map((o) => `{${o}} ${o}`).join(', ')}`,
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  const counts = Object.fromEntries(MODULE_OUTCOMES.map((o) => [o, 0])) as Record<ModuleOutcome, number>;
  let started = false;
  return {
    onEvent(event) {
      if (event.type === 'planned') {
        bar.start(event.total, 0, counts);
        started = true;
      } else if (started) {
        counts[event.result.outcome]++;
        bar.update(event.done, counts);
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
