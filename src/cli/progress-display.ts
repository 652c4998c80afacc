/**
 * Transfer progress on stderr, in the form that suits where stderr goes:
 *
 * - `bar`: a terminal. cli-progress redraws one line in place.
 * - `lines`: a pipe or a log file. One plain line each time another tenth of
 *   the file is done, so a log gets at most eleven lines per transfer.
 * - `json`: --json. One JSON line per progress notification (the service
 *   sends at most one every progressIntervalMs, 100 ms by default).
 * - `none`: --no-progress.
 */
import cliProgress from 'cli-progress';
import type { TransferProgressParams } from '../client/node.js';
import { formatBytes, formatDuration } from './human-readable.js';

export type ProgressMode = 'bar' | 'lines' | 'json' | 'none';

export interface ProgressDisplay {
  update(progress: TransferProgressParams): void;
  /** Finish the display (leaves the bar's last state on screen). */
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

/** "upload report.pdf: 42% (13.4 MiB of 32.0 MiB, 85.3 MiB/s, 1s left)" */
export function formatProgressLine(progress: TransferProgressParams): string {
  const done = doneBytes(progress);
  const parts = [`${formatBytes(done)} of ${formatBytes(progress.totalBytes)}`];
  if (progress.state === 'running' && progress.bytesPerSecond > 0) {
    parts.push(`${formatBytes(progress.bytesPerSecond)}/s`, `${formatDuration(progress.etaSeconds)} left`);
  }
  const state = progress.state === 'running' || progress.state === 'completed' ? '' : ` ${progress.state}`;
  return `${progress.direction} ${progress.name}:${state} ${percentDone(progress)}% (${parts.join(', ')})`;
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

function barDisplay(stderr: NodeJS.WritableStream): ProgressDisplay {
  let bar: cliProgress.SingleBar | undefined;
  return {
    update: (progress) => {
      const payload = { line: formatProgressLine(progress) };
      if (bar === undefined) {
        bar = new cliProgress.SingleBar(
          { format: '{bar} {line}', stream: stderr, hideCursor: true, barsize: 24, clearOnComplete: false, fps: 10 },
          cliProgress.Presets.shades_classic,
        );
        bar.start(Math.max(progress.totalBytes, 1), doneBytes(progress), payload);
      } else {
        bar.update(doneBytes(progress), payload);
      }
    },
    stop: () => bar?.stop(),
  };
}
