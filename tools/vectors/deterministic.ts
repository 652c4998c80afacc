/**
 * Deterministic bytes for test vectors, simple enough to reproduce in any
 * language: block i is SHA-256(UTF-8(seed) || uint32be(i)) for i = 0, 1, ...;
 * the stream is the blocks concatenated.
 */
import { createHash } from 'node:crypto';
import type { RandomSource } from '../../src/crypto/index.js';

export const BYTE_STREAM_DEFINITION =
  'sha256-ctr: block i = SHA-256(UTF-8(seed) || uint32be(i)) for i = 0, 1, 2, ...; the stream is the blocks concatenated';

function block(seed: string, index: number): Buffer {
  const counter = Buffer.alloc(4);
  counter.writeUInt32BE(index);
  return createHash('sha256').update(seed, 'utf8').update(counter).digest();
}

/** The first `length` bytes of the stream for `seed`. */
export function streamBytes(seed: string, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let offset = 0, index = 0; offset < length; offset += 32, index++) {
    block(seed, index).copy(out, offset, 0, Math.min(32, length - offset));
  }
  return out;
}

/** A RandomSource that hands out the stream for `seed` from its start, in order. */
export function deterministicRandom(seed: string): RandomSource {
  let position = 0;
  return (size) => {
    const bytes = streamBytes(seed, position + size).subarray(position);
    position += size;
    return Buffer.from(bytes);
  };
}

/** A RandomSource that returns exactly these bytes once (e.g. a recorded salt). */
export function replayRandom(...chunks: Buffer[]): RandomSource {
  const queue = [...chunks];
  return (size) => {
    const next = queue.shift();
    if (next === undefined || next.length !== size) {
      throw new Error(`replayRandom: asked for ${size} bytes, had ${next?.length ?? 'nothing'}`);
    }
    return Buffer.from(next);
  };
}
