/**
 * `btfd build` in a real terminal: a tmux pane 80 columns wide runs a real build of the fixture
 * kernel (the daemon autostarted, pahole regenerating every module with one worker, so the bar
 * is drawn for a while). Everything the command wrote to the terminal is recorded (pipe-pane):
 * every frame of the progress line fits in 79 columns, and the screen ends with the summary line,
 * nothing of the bar left on it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitForExit } from '../../client/connect.js';
import { createFixtureKernel } from '../fixtures/fixture-kernel.js';
import { CLI, runCli } from '../helpers/cli-harness.js';

const COLUMNS = 80;
/** What starts a frame anew: a carriage return or newline, a move to a column, cursor restore/save. */
const FRAME_BREAK = /\r|\n|\x1b\[\d*G|\x1b[78]/;
/** Other control sequences (erase, cursor show/hide): no width on screen. */
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

const quote = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;

test('btfd build in an 80-column terminal: the progress line fits and the screen ends in the summary', async (t) => {
  const dir = fs.mkdtempSync('/tmp/btfd-t-');
  const home = path.join(dir, 'h');
  const kernel = await createFixtureKernel(path.join(dir, 'k'));
  const socket = path.join(dir, 'tmux.sock');
  const raw = path.join(dir, 'raw.log');
  const tmux = (...args: string[]): string => execFileSync('tmux', ['-S', socket, ...args], { encoding: 'utf8' });
  t.after(async () => {
    try {
      tmux('kill-server');
    } catch {
      // already gone
    }
    const status = await runCli(['status', '--json'], { BTFD_HOME: home });
    await runCli(['stop'], { BTFD_HOME: home });
    if (status.code === 0) await waitForExit(JSON.parse(status.stdout).pid, 10_000);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  // The pane waits for a key, so that recording starts before the command writes anything.
  const command = [
    'read go;',
    `env BTFD_HOME=${quote(home)} BTFD_WORKERS=1 ${quote(process.execPath)} ${quote(CLI)} build ${quote(kernel.dir)};`,
    'echo EXIT=$?; sleep 600',
  ].join(' ');
  tmux('new-session', '-d', '-s', 'btfd', '-x', String(COLUMNS), '-y', '24', `sh -c ${quote(command)}`);
  tmux('pipe-pane', '-t', 'btfd', '-o', `cat >> ${quote(raw)}`);
  tmux('send-keys', '-t', 'btfd', 'Enter');

  let screen = '';
  for (let i = 0; i < 1200 && !/^EXIT=\d+/m.test(screen); i++) {
    await sleep(50);
    screen = tmux('capture-pane', '-p', '-t', 'btfd');
  }
  assert.match(screen, /^EXIT=0$/m, screen);
  assert.equal(Number(tmux('display-message', '-p', '-t', 'btfd', '#{pane_width}').trim()), COLUMNS);

  // Every frame the command drew: each piece between carriage returns and newlines.
  const frames = fs.readFileSync(raw, 'utf8').split(FRAME_BREAK).map((f) => f.replace(ANSI, '').trimEnd()).filter((f) => f !== '');
  for (const frame of frames) assert.ok(frame.length < COLUMNS, `${frame.length} columns: ${JSON.stringify(frame)}`);
  const bars = frames.filter((f) => f.startsWith('btfd build ['));
  assert.ok(bars.length > 0, `the progress bar was drawn: ${JSON.stringify(frames)}`);
  assert.ok(bars.some((f) => new RegExp(`\\] \\d+/${kernel.modules.length} \\d+%`).test(f)), 'done/total in the bar');
  assert.ok(frames.some((f) => f.startsWith('btfd build: connecting to the daemon')), 'not silent while the daemon starts');

  // What stays on screen: the summary line, then our EXIT line; no bar, no wrapped line.
  const lines = tmux('capture-pane', '-p', '-J', '-t', 'btfd').split('\n').map((l) => l.trimEnd()).filter((l) => l !== '');
  const exitLine = lines.findIndex((l) => l.startsWith('EXIT='));
  assert.match(lines[exitLine - 1] ?? '', new RegExp(`^${kernel.modules.length} modules in [\\d.]+s: 0 fresh, 0 restored, 0 relocated, ${kernel.modules.length} regenerated, 0 failed$`), lines.join('\n'));
  assert.ok(!lines.some((l) => l.includes('btfd build [') || l.includes('btfd build:')), `nothing of the progress line is left:\n${lines.join('\n')}`);
  for (const line of lines) assert.ok(line.length <= COLUMNS, `no wrapped line: ${line}`);
});
