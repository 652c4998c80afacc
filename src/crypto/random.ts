/**
 * Where random bytes come from. Injectable so that test vectors are exact;
 * production code always uses the operating system's CSPRNG.
 */
import { randomBytes } from 'node:crypto';

/** Returns `size` fresh random bytes. */
export type RandomSource = (size: number) => Buffer;

export const systemRandom: RandomSource = (size) => randomBytes(size);

/** Draws `size` bytes and checks that the source kept its contract. */
export function takeRandom(random: RandomSource, size: number): Buffer {
  const bytes = random(size);
  if (!Buffer.isBuffer(bytes) || bytes.length !== size) {
    throw new TypeError(`random source returned ${Buffer.isBuffer(bytes) ? bytes.length : typeof bytes} instead of ${size} bytes`);
  }
  return bytes;
}
