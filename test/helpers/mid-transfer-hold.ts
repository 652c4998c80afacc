/**
 * Hold a transfer in the middle until it is cancelled, so that a cancel test
 * cancels mid-transfer on a fast machine and a slow one alike (a slowed-down
 * store only makes that likely). While armed, an upload's parts after the
 * first and a download's ranged reads after the first wait for their
 * transfer's signal to abort: by then the upload's writer (its temporary, or
 * its multipart upload once the first part is stored) and the download's
 * temporary at the destination exist.
 */
import type { Storage } from '../../src/storage/storage.js';
import { hookedStorage } from './storage-wrappers.js';

export interface MidTransferHold {
  /** Wrap the store the service uses. */
  wrap(inner: Storage): Storage;
  /** Hold the next transfer; resolves once it is held. */
  arm(): Promise<void>;
  /** Let everything through again (after the cancel). */
  disarm(): void;
}

/** `firstHeldPart`: 0 holds every part (the writer exists once beginWrite returned); 1 lets the first part through (on S3, it opens the multipart upload). */
export function midTransferHold({ firstHeldPart = 0 }: { firstHeldPart?: number } = {}): MidTransferHold {
  let armed = false;
  let reads = 0;
  let held: (() => void) | undefined;

  /** Resolves when the transfer is cancelled; a call without a signal is never held (it could not be released). */
  const holdUntilCancelled = (signal: AbortSignal | undefined): Promise<void> => {
    if (signal === undefined || signal.aborted) return Promise.resolve();
    held?.();
    return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  };

  return {
    wrap: (inner) =>
      hookedStorage(inner, {
        beforeWritePart: async (partIndex, signal) => {
          if (armed && partIndex >= firstHeldPart) await holdUntilCancelled(signal);
        },
        beforeReadRange: async (_offset, signal) => {
          if (armed && reads++ > 0) await holdUntilCancelled(signal);
        },
      }),
    arm() {
      armed = true;
      reads = 0;
      return new Promise<void>((resolve) => {
        held = resolve;
      });
    },
    disarm() {
      armed = false;
      held = undefined;
    },
  };
}
