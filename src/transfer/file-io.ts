/**
 * Positioned I/O that finishes what it was asked: a positioned write (or
 * writev) may write fewer bytes than given, and the caller must go on from
 * there.
 */

/** What writevFully needs of a file handle (a FileHandle fits). */
export interface WritevTarget {
  writev(buffers: readonly Uint8Array[], position: number): Promise<{ bytesWritten: number }>;
}

/**
 * Writes every buffer, in order, from `position` on, with as few writev
 * calls as the OS allows (one, normally). Writing a part's chunks this way
 * spares copying them into one buffer first.
 */
export async function writevFully(handle: WritevTarget, buffers: readonly Uint8Array[], position: number): Promise<void> {
  let pending = buffers.filter((buffer) => buffer.byteLength > 0);
  let at = position;
  while (pending.length > 0) {
    let { bytesWritten } = await handle.writev(pending, at);
    if (bytesWritten <= 0) throw new Error('writev wrote nothing');
    at += bytesWritten;
    let first = 0;
    while (first < pending.length && bytesWritten >= (pending[first] as Uint8Array).byteLength) {
      bytesWritten -= (pending[first] as Uint8Array).byteLength;
      first += 1;
    }
    pending = pending.slice(first);
    if (bytesWritten > 0) pending[0] = (pending[0] as Uint8Array).subarray(bytesWritten);
  }
}
