/**
 * Transfer progress on stderr, in the form that suits where stderr goes:
 *
 * - `bar`: a terminal. One line redrawn in place, fitted to the terminal's width.
 * - `lines`: a pipe or a log file. One plain line each time another tenth of
 *   the file is done, so a log gets at most eleven lines per transfer.
 * - `json`: --json. One JSON line per progress notification (the service
 *   sends at most one every progressIntervalMs, 100 ms by default).
 * - `none`: --no-progress.
 */
import type { TransferProgressParams } from '../client/node.js';
import { formatBytes, formatDuration } from './human-readable.js';

export type ProgressMode = 'bar' | 'lines' | 'json' | 'none';

export interface ProgressDisplay {
  update(progress: TransferProgressParams): void;
  /** Finish the display (leaves the bar's last state on screen, on its own line); later updates are ignored. Safe to call twice. */
  stop(): void;
}

/** Bytes that are fully done: encrypted and stored (upload), fetched and authenticated (download). */
export function doneBytes(progress: Pick<TransferProgressParams, 'cryptoBytes' | 'transferredBytes'>): number {
  return Math.min(progress.cryptoBytes, progress.transferredBytes);
}

export function percentDone(progress: Pick<TransferProgressParams, 'cryptoBytes' | 'transferredBytes' | 'totalBytes'>): number {
  if (progress.totalBytes === 0) return 100;
  return Math.floor((doneBytes(progress) / progress.totalBytes) * 100);
}

/** "upload report.pdf: 42% (13.4 MiB of 32.0 MiB, 85.3 MiB/s, 1s left)"; a group adds "12 of 300 files" before the sizes. */
export function formatProgressLine(progress: TransferProgressParams): string {
  return lineOf(progressParts(progress), { direction: true, sizes: true, speed: true });
}

interface ProgressParts {
  readonly direction: string;
  readonly name: string;
  /** " queued", " failed", ... ('' while running or completed). */
  readonly state: string;
  readonly percent: number;
  readonly sizes: string;
  /** A transfer group: "12 of 300 files" (absent for a single file). */
  readonly files: string | undefined;
  readonly speed: string | undefined;
  readonly eta: string | undefined;
}

function progressParts(progress: TransferProgressParams): ProgressParts {
  const running = progress.state === 'running' && progress.bytesPerSecond > 0;
  return {
    direction: progress.direction,
    name: progress.name,
    state: progress.state === 'running' || progress.state === 'completed' ? '' : ` ${progress.state}`,
    percent: percentDone(progress),
    sizes: `${formatBytes(doneBytes(progress))} of ${formatBytes(progress.totalBytes)}`,
    files: progress.group === undefined ? undefined : `${progress.group.filesDone} of ${progress.group.filesTotal} files`,
    speed: running ? `${formatBytes(progress.bytesPerSecond)}/s` : undefined,
    eta: running ? `${formatDuration(progress.etaSeconds)} left` : undefined,
  };
}

function lineOf(parts: ProgressParts, keep: { direction: boolean; sizes: boolean; speed: boolean }, name = parts.name): string {
  const details = [keep.sizes ? parts.files : undefined, keep.sizes ? parts.sizes : undefined, keep.speed ? parts.speed : undefined, parts.eta].filter((part) => part !== undefined);
  const head = keep.direction ? `${parts.direction} ${name}` : name;
  return `${head}:${parts.state} ${parts.percent}%${details.length === 0 ? '' : ` (${details.join(', ')})`}`;
}

const BAR_WIDTH = 24;
const MIN_BAR_WIDTH = 10;
const MIN_NAME_LENGTH = 8;

/**
 * The bar and text for a terminal `columns` wide, never wider than
 * `columns - 1` (a line that reaches the last column wraps on some
 * terminals, and the next redraw then lands on a new line). Parts go in
 * this order as the width shrinks: the bar narrows to 10 cells, then the
 * word upload/download goes, then the byte counts, then the speed, then
 * the bar itself; then the name is shortened in the middle. The percent
 * and the time left stay to the end.
 */
export function fitProgressLine(progress: TransferProgressParams, columns: number): string {
  const width = Math.max(1, columns - 1);
  const parts = progressParts(progress);
  const fraction = progress.totalBytes === 0 ? 1 : Math.min(1, doneBytes(progress) / progress.totalBytes);
  const bar = (cells: number) => `${'█'.repeat(Math.round(fraction * cells))}${'░'.repeat(cells - Math.round(fraction * cells))} `;
  const steps: Array<{ direction: boolean; sizes: boolean; speed: boolean }> = [
    { direction: true, sizes: true, speed: true },
    { direction: false, sizes: true, speed: true },
    { direction: false, sizes: false, speed: true },
    { direction: false, sizes: false, speed: false },
  ];
  for (const keep of steps) {
    const text = lineOf(parts, keep);
    const room = width - textLength(text) - 1;
    if (room >= MIN_BAR_WIDTH) return `${bar(Math.min(BAR_WIDTH, room))}${text}`;
  }
  const bare = steps[steps.length - 1]!;
  const text = lineOf(parts, bare);
  if (textLength(text) <= width) return text;
  // Shorten the name in the middle (its start and its end tell files apart).
  const overflow = textLength(text) - width + 1;
  const name = [...parts.name];
  const keepChars = Math.max(MIN_NAME_LENGTH, name.length - overflow);
  const shortened = keepChars >= name.length ? parts.name : `${name.slice(0, Math.ceil(keepChars / 2)).join('')}…${name.slice(name.length - Math.floor(keepChars / 2)).join('')}`;
  return [...lineOf(parts, bare, shortened)].slice(0, width).join('');
}

function textLength(text: string): number {
  return [...text].length;
}

export function pickProgressMode(options: { json: boolean; progress: boolean; stderrIsTTY: boolean }): ProgressMode {
  if (!options.progress) return 'none';
  if (options.json) return 'json';
  return options.stderrIsTTY ? 'bar' : 'lines';
}

export function createProgressDisplay(mode: ProgressMode, stderr: NodeJS.WritableStream): ProgressDisplay {
  switch (mode) {
    case 'none':
      return { update: () => undefined, stop: () => undefined };
    case 'json':
      return {
        update: (progress) => stderr.write(`${JSON.stringify({ type: 'progress', ...progress, percent: percentDone(progress) })}\n`),
        stop: () => undefined,
      };
    case 'lines':
      return tenthsDisplay(stderr);
    case 'bar':
      return barDisplay(stderr);
  }
}

function tenthsDisplay(stderr: NodeJS.WritableStream): ProgressDisplay {
  let lastTenth = -1;
  return {
    update: (progress) => {
      const tenth = Math.floor(percentDone(progress) / 10);
      if (tenth <= lastTenth) return;
      lastTenth = tenth;
      stderr.write(`${formatProgressLine(progress)}\n`);
    },
    stop: () => undefined,
  };
}

/** Redraws at most this often (a finish or a state change always draws). */
const BAR_REDRAW_MS = 100;

/**
 * One line redrawn in place: carriage return, the line, erase to its end.
 * No cursor hiding or saving, so nothing is restored over text written
 * after it (the "Cancelling…" note); stop() ends the line.
 */
function barDisplay(stderr: NodeJS.WritableStream & { columns?: number }): ProgressDisplay {
  let drawn = false;
  let stopped = false;
  let lastDraw = 0;
  let lastState: string | undefined;
  /** The newest update not drawn yet (skipped by the redraw limit): stop() draws it. */
  let pending: TransferProgressParams | undefined;
  const draw = (progress: TransferProgressParams) => {
    lastDraw = Date.now();
    lastState = progress.state;
    drawn = true;
    pending = undefined;
    stderr.write(`\r${fitProgressLine(progress, stderr.columns || 80)}\x1b[K`);
  };
  return {
    update: (progress) => {
      if (stopped) return;
      const final = progress.state !== 'running' && progress.state !== 'queued';
      if (drawn && !final && progress.state === lastState && Date.now() - lastDraw < BAR_REDRAW_MS) {
        pending = progress;
        return;
      }
      draw(progress);
    },
    stop: () => {
      if (stopped) return;
      if (pending !== undefined) draw(pending);
      stopped = true;
      if (drawn) stderr.write('\n');
    },
  };
}
