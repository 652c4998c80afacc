/** Shared assertions for the crypto tests. */
import { expect } from '@jest/globals';
import type { ErrorReason } from '../../protocol/errors.js';
import { CloudlockerError } from '../../src/errors.js';

/** Runs `action`, expects a CloudlockerError with `reason`, returns it. */
export function catchReason(action: () => unknown, reason: ErrorReason): CloudlockerError {
  let caught: unknown;
  try {
    action();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(CloudlockerError);
  expect((caught as CloudlockerError).reason).toBe(reason);
  return caught as CloudlockerError;
}

export async function catchReasonAsync(action: () => Promise<unknown>, reason: ErrorReason): Promise<CloudlockerError> {
  let caught: unknown;
  try {
    await action();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(CloudlockerError);
  expect((caught as CloudlockerError).reason).toBe(reason);
  return caught as CloudlockerError;
}

/** Deterministic, non-repeating test bytes. */
export function pattern(length: number, seed = 1): Buffer {
  const bytes = Buffer.alloc(length);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[i] = state & 0xff;
  }
  return bytes;
}

/** Splits `bytes` at the given cut points (sorted, within range) into pieces. */
export function slice(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((cut) => Math.min(Math.max(cut, 0), bytes.length)))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let previous = 0;
  for (const point of points) {
    pieces.push(bytes.subarray(previous, point));
    previous = point;
  }
  pieces.push(bytes.subarray(previous));
  return pieces;
}

export async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for await (const piece of source) pieces.push(Buffer.from(piece));
  return Buffer.concat(pieces);
}
