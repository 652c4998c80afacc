/**
 * Running one upload or download from the command line: progress on stderr
 * in the mode that suits it, and Ctrl+C cancelling the transfer in the
 * service (a transfer otherwise goes on when its client leaves), exiting 130.
 */
import { isRpcError, type TransferOptions } from '../client/node.js';
import { ExitCode } from './exit-codes.js';
import type { CommandOutput } from './output.js';
import { createProgressDisplay, pickProgressMode } from './progress-display.js';

export interface TransferFlags {
  /** commander's --no-progress sets this false. */
  progress?: boolean;
}

export type TransferRun<T> = { readonly outcome: T } | { readonly interrupted: true };

export async function runTransfer<T>(output: CommandOutput, flags: TransferFlags, start: (options: TransferOptions) => Promise<T>): Promise<TransferRun<T>> {
  const stderr = output.streams.stderr;
  const display = createProgressDisplay(
    pickProgressMode({ json: output.json, progress: flags.progress !== false, stderrIsTTY: stderr.isTTY === true }),
    stderr,
  );
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(ExitCode.INTERRUPTED); // a second Ctrl+C: out now
    controller.abort();
    // The bar ends its line first: the note is then never drawn over.
    display.stop();
    output.note('Cancelling the transfer… (Ctrl+C again to quit at once; the service may then finish it)');
  };
  process.on('SIGINT', onSigint);
  try {
    return { outcome: await start({ signal: controller.signal, onProgress: (progress) => display.update(progress) }) };
  } catch (err) {
    if (controller.signal.aborted && isRpcError(err, 'CANCELLED')) return { interrupted: true };
    throw err;
  } finally {
    display.stop();
    process.off('SIGINT', onSigint);
  }
}
