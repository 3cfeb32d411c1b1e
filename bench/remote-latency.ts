/**
 * Per-module remote hit latency: for every action a home stored (its cache.db), one module's remote
 * hit as a build does it, one module at a time — the remote tier's lookup (entry, then the blob's
 * presence) and fetch (download, re-hash), then the tiered cache's write-back into an empty local
 * store (blob written and fsynced, row committed). Prints milliseconds per module: median, p90,
 * p99, mean, for the remote part alone and with the write-back.
 *
 *   node dist/bench/remote-latency.js --cache HOME/cache --remote URL [--skip 5]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { openRemoteTier } from '../daemon/store/remote/open-remote.js';
import { openStore } from '../daemon/store/store.js';
import { createTieredCache } from '../daemon/store/tiered-cache.js';
import { resolveConfig } from '../shared/config.js';

const { values } = parseArgs({ options: { cache: { type: 'string' }, remote: { type: 'string' }, skip: { type: 'string', default: '5' } } });
if (values.cache === undefined || values.remote === undefined) {
  process.stderr.write('usage: remote-latency --cache HOME/cache --remote URL [--skip N]\n');
  process.exit(2);
}
const db = new Database(path.join(values.cache, 'cache.db'), { readonly: true });
const keys = db.prepare('SELECT key FROM actions ORDER BY key').pluck().all() as string[];
db.close();

const remoteConfig = resolveConfig({ env: { BTFD_REMOTE_CACHE: values.remote }, file: null }).remote!;
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'btfd-latency-'));
const store = openStore({ dir: scratch });
const logger = pino({ level: 'silent' });
const remote = openRemoteTier({ config: remoteConfig, count: (name, by) => store.counters.add(name, by), logger });
const tiered = createTieredCache({ local: store.artifacts, counters: store.counters, remote, log: logger });

const remoteOnly: number[] = [];
const withWriteBack: number[] = [];
let misses = 0;
const skip = Number(values.skip);
for (const [i, key] of keys.entries()) {
  // The remote part alone, as the remote tier answers it.
  const t0 = performance.now();
  const found = await remote.lookup(key, false);
  const blob = found ? await remote.fetch(found) : null;
  const t1 = performance.now();
  // A whole hit as a build takes it: lookup through the tiers, load, write back locally.
  const hit = await tiered.lookup(key, { tally: false });
  const loaded = hit ? await tiered.load(key, hit, async (b) => b) : null;
  const t2 = performance.now();
  if (blob === null || loaded === null) misses++;
  else if (i >= skip) {
    remoteOnly.push(t1 - t0);
    withWriteBack.push(t2 - t1);
  }
}
await remote.close();
store.close();
fs.rmSync(scratch, { recursive: true, force: true });

const summary = (ms: number[]): string => {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(2);
  const mean = (sorted.reduce((a, b) => a + b, 0) / sorted.length).toFixed(2);
  return `median ${at(0.5)}  p90 ${at(0.9)}  p99 ${at(0.99)}  mean ${mean}`;
};
process.stdout.write(`${remoteConfig.kind} ${remoteConfig.location}: ${keys.length} actions, ${misses} misses, first ${skip} not counted (connect, client load)\n`);
process.stdout.write(`  remote lookup + fetch + re-hash (ms/module): ${summary(remoteOnly)}\n`);
process.stdout.write(`  whole hit through the tiers, with write-back (ms/module): ${summary(withWriteBack)}\n`);
