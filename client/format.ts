/**
 * Human-readable text for the CLI: short summaries, never raw log JSON. `--json` output bypasses
 * this module and prints the protocol objects as they are.
 */
import path from 'node:path';
import type { BuildReport, CacheStats, CacheTierStats, Explanation, ModuleState, RemoteCacheStatus } from '../shared/build-types.js';
import { toBtfdError } from '../shared/errors.js';
import { describeCounts } from '../shared/module-actions.js';

/** 1536 → "1.5 KiB". */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** Seconds as `1h 2m`, `5m 12s` or `42s`. */
export function formatDuration(seconds: number): string {
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}

function relative(dir: string, file: string): string {
  const rel = path.relative(dir, file);
  return rel.startsWith('..') ? file : rel;
}

/** The one-line build summary plus one line per failure. */
export function formatBuildReport(report: BuildReport): string {
  const lines = [
    `${report.modules} modules in ${report.seconds.toFixed(2)}s: ${describeCounts(report)}`,
  ];
  for (const failure of report.failures) {
    lines.push(`  ${relative(report.dir, failure.path)}: ${failure.error?.code ?? 'failed'}: ${failure.reason}`);
    if (failure.error) lines.push(`    next: ${failure.error.next}`);
  }
  return lines.join('\n');
}

/** `btfd explain`: the key's inputs, what changed, and the verdict. */
export function formatExplanation(explanation: Explanation): string {
  const lines = [`${explanation.path}`, `  key      ${explanation.key}`];
  for (const input of explanation.inputs) {
    const was = input.previousValue !== undefined ? JSON.stringify(input.previousValue) : input.previous?.slice(0, 16);
    const changed = input.previous ? `  (changed; was ${was})` : '';
    lines.push(`  ${input.name.padEnd(8)} ${input.digest.slice(0, 16)}  ${input.value}${changed}`);
  }
  lines.push(`  verdict  ${explanation.verdict}: ${explanation.reason}`);
  lines.push(`  cache    ${explanation.cached ? `has an artifact for this key (${explanation.tier ?? 'local'} tier)` : 'has no artifact for this key'}`);
  if (explanation.lastBuild) {
    lines.push(`  last     ${explanation.lastBuild.outcome} at ${new Date(explanation.lastBuild.atMs).toISOString()}: ${explanation.lastBuild.reason}`);
  }
  return lines.join('\n');
}

/** One tier's figures on one line: `remote   12 hits, 3 misses, 0 errors, 1.2 MiB read, 3.4 MiB written`. */
export function formatTier(tier: CacheTierStats): string {
  const extra = [tier.skipped > 0 ? `${tier.skipped} skipped` : '', tier.corrupt > 0 ? `${tier.corrupt} corrupt` : ''].filter(Boolean);
  return `${tier.hits} hits, ${tier.misses} misses, ${tier.errors} errors${extra.length > 0 ? `, ${extra.join(', ')}` : ''}, `
    + `${formatBytes(tier.bytesRead)} read, ${formatBytes(tier.bytesWritten)} written`;
}

/** The remote tier's state on one line: where, mode, breaker, uploads. */
export function formatRemote(remote: RemoteCacheStatus): string {
  const mode = `${remote.readOnly ? 'read-only' : 'read-write'}${remote.salted ? ', salted' : ''}`;
  const { breaker, uploads } = remote;
  const state = breaker.state === 'closed'
    ? 'breaker closed'
    : `breaker ${breaker.state.toUpperCase()}${breaker.retryAtMs === null ? '' : ` until ${new Date(breaker.retryAtMs).toISOString()}`} after ${breaker.failures} failures`;
  const last = breaker.state !== 'closed' && breaker.lastError ? ` (last: ${breaker.lastError.code}: ${breaker.lastError.message})` : '';
  const pending = uploads.queued + uploads.running;
  return `${remote.location} (${remote.kind}, ${mode}); ${state}${last}; uploads ${pending} pending, ${uploads.done} done, ${uploads.failed} failed, ${uploads.dropped} dropped`;
}

/** "78% hit rate (45 hits, 12 misses)" (and relocations, when there were some), or that there were no lookups. */
export function formatHitRate(stats: Pick<CacheStats, 'hits' | 'misses' | 'relocated' | 'hitRate'>): string {
  if (stats.hitRate === null) return 'no lookups yet';
  const relocated = stats.relocated > 0 ? `, ${stats.relocated} relocated` : '';
  return `${Math.round(100 * stats.hitRate)}% hit rate (${stats.hits} hits${relocated}, ${stats.misses} misses)`;
}

/** `btfd cache stats`. */
export function formatCacheStats(stats: CacheStats): string {
  const lines = [
    `entries  ${stats.entries} (${stats.blobs} blobs, ${formatBytes(stats.bytes)} of ${formatBytes(stats.maxBytes)})`,
    `lookups  ${formatHitRate(stats)}; pahole time saved ${(stats.savedMs / 1000).toFixed(1)}s`,
    `dropped  ${stats.corrupt} corrupt, ${stats.missing} missing blobs`,
  ];
  for (const tier of stats.tiers) lines.push(`${tier.tier.padEnd(8)} ${formatTier(tier)}`);
  if (stats.remote !== null) lines.push(`         ${formatRemote(stats.remote)}`);
  lines.push(`files    ${stats.files} in the stat cache`);
  return lines.join('\n');
}

/**
 * `btfd modules`: one line per module with its last change and why; a failed module also gets
 * its code and next step, until a build succeeds on it.
 */
export function formatModules(modules: readonly ModuleState[], dir: string | undefined): string {
  if (modules.length === 0) return 'no modules built yet';
  const width = Math.max(...modules.map((m) => m.outcome.length));
  return modules.map((m) => {
    const line = `${m.outcome.padEnd(width)}  ${dir ? relative(dir, m.path) : m.path}  ${m.error ? `${m.error.code}: ` : ''}${m.reason}`;
    return m.error ? `${line}\n${' '.repeat(width)}  next: ${m.error.next}` : line;
  }).join('\n');
}

/** What a re-`watch` changed, so that rebuilding a whole tree with other settings is never silent. */
export function describeReplaced(
  dir: string,
  before: { readonly base: string | null; readonly flags: string | null; readonly pahole: string | null },
  after: { readonly base: string; readonly flags: string | null; readonly pahole: string | null },
): string {
  const shown = (value: string | null): string => (value === null ? 'the default' : JSON.stringify(value));
  const changes: string[] = [];
  if (before.flags !== after.flags) changes.push(`flags ${shown(before.flags)} → ${shown(after.flags)}`);
  if (before.pahole !== after.pahole) changes.push(`pahole ${shown(before.pahole)} → ${shown(after.pahole)}`);
  if ((before.base ?? path.join(dir, 'vmlinux')) !== after.base) changes.push(`base ${shown(before.base)} → ${JSON.stringify(after.base)}`);
  return `${dir} was already watched; ${changes.join(', ')}: its modules are rebuilt with the new settings (restored from the cache where it has them)`;
}

/** An error as the CLI shows it: code, what happened, what to do. */
export function formatError(err: unknown): string {
  const error = toBtfdError(err);
  return `btfd: ${error.code}: ${error.message}\n  next: ${error.next}`;
}

/** Exit status of a command that could not run at all (as opposed to a module that failed). */
export const EXIT_COMMAND_FAILED = 2;
/** Exit status after Ctrl-C: 128 + SIGINT, as a shell reports a command killed by it. */
export const EXIT_INTERRUPTED = 130;
