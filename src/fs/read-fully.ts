/**
 * Positioned reads that finish what they were asked: a read may return fewer
 * bytes than asked without being at the end of the file, and the caller must
 * go on from there (the counterpart of writevFully in transfer/file-io.ts).
 */
import { fromSystemError } from '../errors.js';

/** What readFully needs of a file handle (a FileHandle fits). */
export interface ReadTarget {
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
}

/**
 * Fills `into` with the file's bytes from `position` on and returns how many
 * it read: all of them, fewer only where the file ends. A failing read
 * becomes a CloudlockerError about `what` ("the file to upload"), never a
 * raw system error.
 */
export async function readFully(handle: ReadTarget, into: Uint8Array, position: number, what: string): Promise<number> {
  let total = 0;
  while (total < into.length) {
    let bytesRead: number;
    try {
      ({ bytesRead } = await handle.read(into, total, into.length - total, position + total));
    } catch (err) {
      throw fromSystemError(err, what);
    }
    if (bytesRead === 0) break;
    total += bytesRead;
  }
  return total;
}
