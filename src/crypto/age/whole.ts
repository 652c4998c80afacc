/**
 * Whole-buffer and sequential-stream helpers over AgeSealer/AgeOpener, for
 * tests, tools and small objects (identity files). The transfer engine uses
 * the chunk functions directly.
 */
import { AgeOpener, AgeSealer, describeAgePrefix, type AgeOpenOptions, type AgeSealOptions } from './file.js';
import { AGE_CHUNK_SIZE, AGE_STORED_CHUNK_SIZE, ageChunkCountFor, agePlaintextSizeFor, ageStoredChunkOffset } from './payload.js';

export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

function sealChunks(sealer: AgeSealer, plaintext: Uint8Array): Buffer {
  const count = ageChunkCountFor(plaintext.length);
  const parts: Buffer[] = [Buffer.from(sealer.prefix)];
  for (let index = 0; index < count; index++) {
    const chunk = plaintext.subarray(index * AGE_CHUNK_SIZE, Math.min(plaintext.length, (index + 1) * AGE_CHUNK_SIZE));
    parts.push(sealer.encryptChunk(index, chunk, index === count - 1));
  }
  return Buffer.concat(parts);
}

export function sealAgeBuffer(plaintext: Uint8Array, options: AgeSealOptions): Buffer {
  return sealChunks(AgeSealer.create(options), plaintext);
}

/** The plaintext of `file` through an opener made for it; PAYLOAD_INVALID on any payload failure. */
export function openPayload(opener: AgeOpener, file: Uint8Array): Buffer {
  const size = agePlaintextSizeFor(opener.prefixLength, file.length);
  const count = ageChunkCountFor(size);
  const out = Buffer.alloc(size);
  for (let index = 0; index < count; index++) {
    const start = ageStoredChunkOffset(opener.prefixLength, index);
    const stored = file.subarray(start, Math.min(file.length, start + AGE_STORED_CHUNK_SIZE));
    opener.decryptChunk(index, stored, index === count - 1, out, index * AGE_CHUNK_SIZE);
  }
  return out;
}

export function openAgeBuffer(file: Uint8Array, options: AgeOpenOptions): Buffer {
  // A file cut inside its header fails there (HEADER_INVALID); one cut
  // before the end of its payload nonce fails after the header checks (also
  // HEADER_INVALID, as the CCTV vectors stream_no_nonce/stream_short_nonce want).
  return openPayload(AgeOpener.open(file, options), file);
}

export async function openAgeBufferWithPassphrase(file: Uint8Array, passphrase: string): Promise<Buffer> {
  return openPayload(await AgeOpener.openWithPassphrase(file, passphrase), file);
}

/** Yields the prefix, then each sealed chunk (a full chunk is held until it is known not to be last). */
export async function* sealAgeStream(source: ByteSource, options: AgeSealOptions): AsyncGenerator<Buffer, void, undefined> {
  const sealer = AgeSealer.create(options);
  yield Buffer.from(sealer.prefix);
  const pending = Buffer.allocUnsafe(AGE_CHUNK_SIZE);
  let filled = 0;
  let index = 0;
  for await (const piece of source) {
    let offset = 0;
    while (offset < piece.length) {
      if (filled === AGE_CHUNK_SIZE) {
        yield sealer.encryptChunk(index++, pending, false);
        filled = 0;
      }
      const count = Math.min(AGE_CHUNK_SIZE - filled, piece.length - offset);
      pending.set(piece.subarray(offset, offset + count), filled);
      filled += count;
      offset += count;
    }
  }
  yield sealer.encryptChunk(index, pending.subarray(0, filled), true);
  pending.fill(0);
}

/**
 * Yields each chunk's plaintext once it authenticated. As with v1's
 * decryptStream, everything yielded is provisional until the generator ends
 * without throwing (the end of the stream is what proves nothing was cut).
 */
export async function* openAgeStream(source: ByteSource, options: AgeOpenOptions): AsyncGenerator<Buffer, void, undefined> {
  let head = Buffer.alloc(0);
  let opener: AgeOpener | undefined;
  let pending = Buffer.alloc(0);
  let index = 0;
  for await (const piece of source) {
    if (opener === undefined) {
      head = Buffer.concat([head, piece]);
      const info = describeAgePrefix(head);
      if (info === undefined) continue;
      opener = AgeOpener.open(head, options);
      pending = head.subarray(info.prefixLength);
    } else {
      pending = pending.length === 0 ? Buffer.from(piece) : Buffer.concat([pending, piece]);
    }
    // Keep at least one byte beyond a full chunk before releasing it as non-final.
    while (pending.length > AGE_STORED_CHUNK_SIZE) {
      yield opener.decryptChunk(index++, pending.subarray(0, AGE_STORED_CHUNK_SIZE), false);
      pending = pending.subarray(AGE_STORED_CHUNK_SIZE);
    }
  }
  // Ended before the payload nonce was complete: the same failures as a whole buffer.
  if (opener === undefined) opener = AgeOpener.open(head, options);
  yield opener.decryptChunk(index, pending, true);
}
