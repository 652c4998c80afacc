/**
 * Source verification of a resumed upload: before anything is encrypted
 * again under nonces used before the crash, the source must seal to the
 * tags journaled for its parts (partTagDigest in part-seal.ts).
 */
import type { ChunkSealer } from '../crypto/index.js';
import { CloudlockerError, isCloudlockerError } from '../errors.js';
import { readFully, type ReadTarget } from '../fs/read-fully.js';
import type { Part, PartLayout } from './part-layout.js';
import { partTagDigest, sealPart } from './part-seal.js';
import { PartState, type PartSlot } from './transfer-journal.js';

/** How many parts already stored a resumed upload re-reads and hashes (besides those in flight at the crash). */
const VERIFIED_SAMPLE_PARTS = 8;

/**
 * The source of a resumed upload must be the file that was being uploaded:
 * its size and mtime were checked on opening; here every part that was in
 * flight at the crash (it will be encrypted again under the same nonces) and
 * a sample of the parts already stored must seal to the tags journaled
 * (partTagDigest). The parts are encrypted in memory only: nothing leaves
 * before they have matched.
 */
export async function verifySourceUnchanged(
  source: ReadTarget,
  encryptor: ChunkSealer,
  layout: PartLayout,
  slots: readonly PartSlot[],
): Promise<void> {
  const inFlight: number[] = [];
  const done: number[] = [];
  slots.forEach((slot, index) => {
    if (slot.state === PartState.sealed) inFlight.push(index);
    else if (slot.state === PartState.done && slot.sha256 !== undefined) done.push(index);
  });
  const sample = new Set<number>(inFlight);
  const step = Math.max(1, Math.floor(done.length / VERIFIED_SAMPLE_PARTS));
  for (let i = 0; i < done.length && sample.size < inFlight.length + VERIFIED_SAMPLE_PARTS; i += step) sample.add(done[i]!);
  if (done.length > 0) sample.add(done[done.length - 1]!);
  for (const index of sample) {
    const part = layout.part(index);
    const plain = Buffer.allocUnsafe(part.plainLength);
    const filled = await readFully(source, plain, part.plainOffset, 'the file to upload');
    const expected = slots[index]?.sha256;
    const matches =
      filled === part.plainLength &&
      expected !== undefined &&
      sealedDigestOf(encryptor, layout, part, plain).equals(expected);
    if (!matches) {
      throw new CloudlockerError(
        'SOURCE_CHANGED',
        'The file changed while the upload was interrupted: upload it again (the partial upload has been discarded).',
      );
    }
  }
}

/** partTagDigest of the part as `plain` would seal, or an empty buffer when it cannot (the encryptor refuses it). */
function sealedDigestOf(encryptor: ChunkSealer, layout: PartLayout, part: Part, plain: Buffer): Buffer {
  const stored = Buffer.allocUnsafe(part.chunksLength + (part.index === 0 ? encryptor.header.length : 0));
  try {
    sealPart(encryptor, layout, part, plain, stored);
  } catch (err) {
    // The encryptor's own guard: this chunk index was sealed before, in this process, from other bytes.
    if (isCloudlockerError(err, 'SOURCE_CHANGED')) return Buffer.alloc(0);
    throw err;
  }
  return partTagDigest(stored, part, layout);
}
