/**
 * ChunkFingerprints, the guard against sealing one chunk index twice with
 * different plaintext (a nonce reused under one key): on its own, at the
 * edges its bookkeeping has (bit positions within a byte, growth of its
 * tables, the last chunk index a file can have).
 */
import { describe, expect, it } from '@jest/globals';
import { ChunkFingerprints } from '../../src/crypto/chunk-fingerprints.js';
import { CloudlockerError } from '../../src/errors.js';

/** A "sealed chunk": `length` bytes of ciphertext then a 16-byte tag whose first 4 bytes are `fingerprint`. */
function sealed(fingerprint: number, length = 8): Buffer {
  const bytes = Buffer.alloc(length + 16, 0x5a);
  bytes.writeUInt32BE(fingerprint, length);
  return bytes;
}

function refusal(action: () => unknown): CloudlockerError {
  try {
    action();
  } catch (err) {
    if (err instanceof CloudlockerError) return err;
    throw err;
  }
  throw new Error('expected SOURCE_CHANGED');
}

describe('ChunkFingerprints', () => {
  it('lets a chunk out once, and again with the same fingerprint (a retry that re-read the same bytes)', () => {
    const guard = new ChunkFingerprints(1000);
    const first = sealed(0xdeadbeef);
    expect(guard.admit(3, first, 8)).toBe(first);
    const again = sealed(0xdeadbeef);
    expect(guard.admit(3, again, 8)).toBe(again);
    expect(again.equals(sealed(0xdeadbeef))).toBe(true);
  });

  it('withholds a chunk sealed again with other content: SOURCE_CHANGED naming the chunk, the ciphertext zeroed', () => {
    const guard = new ChunkFingerprints(1000);
    guard.admit(5, sealed(1), 8);
    const second = sealed(2);
    const error = refusal(() => guard.admit(5, second, 8));
    expect(error.reason).toBe('SOURCE_CHANGED');
    expect(error.details).toEqual({ chunkIndex: 5 });
    expect(error.message).toBe(
      'The file changed while it was being uploaded (chunk 5 was read twice with different contents): upload it again once it is no longer being written.',
    );
    expect(second.every((byte) => byte === 0)).toBe(true);
    // The first fingerprint stays the reference.
    expect(() => guard.admit(5, sealed(1), 8)).not.toThrow();
  });

  it('reads the fingerprint right after the ciphertext, whatever its length', () => {
    const guard = new ChunkFingerprints(10);
    guard.admit(0, sealed(7, 3), 3);
    expect(guard.conflicts(0, 7)).toBe(false);
    expect(guard.conflicts(0, 8)).toBe(true);
  });

  it('knows nothing of a chunk not yet sealed, including fingerprint 0 and the neighbours of one that was', () => {
    const guard = new ChunkFingerprints(1000);
    for (let index = 0; index < 20; index++) expect(guard.conflicts(index, 0)).toBe(false);
    guard.record(9, 0);
    // Every bit of a byte of the "seen" table, and the bytes either side.
    for (let index = 0; index < 20; index++) {
      expect(guard.conflicts(index, 123)).toBe(index === 9);
    }
  });

  it('keeps each index apart: the eight of one byte of its table and across bytes', () => {
    const guard = new ChunkFingerprints(1000);
    for (let index = 0; index < 24; index += 3) guard.record(index, index + 100);
    for (let index = 0; index < 24; index++) {
      const recorded = index % 3 === 0;
      expect(guard.conflicts(index, index + 100)).toBe(false);
      expect(guard.conflicts(index, index + 101)).toBe(recorded);
    }
  });

  it('remembers what it recorded when its tables grow', () => {
    const guard = new ChunkFingerprints(100_000);
    guard.record(0, 11);
    guard.record(63, 12);
    guard.record(64, 13); // past the first table
    guard.record(1000, 14); // past the doubled one
    guard.record(70_000, 15);
    expect([guard.conflicts(0, 11), guard.conflicts(63, 12), guard.conflicts(64, 13), guard.conflicts(1000, 14), guard.conflicts(70_000, 15)]).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
    expect([guard.conflicts(0, 1), guard.conflicts(63, 1), guard.conflicts(64, 1), guard.conflicts(1000, 1), guard.conflicts(70_000, 1)]).toEqual([
      true,
      true,
      true,
      true,
      true,
    ]);
    expect(guard.conflicts(999, 1)).toBe(false);
  });

  it('guards the last index a file can have (maxChunkCount - 1), also when the tables never grew past it', () => {
    for (const max of [1, 7, 9, 65, 130]) {
      const guard = new ChunkFingerprints(max);
      guard.record(max - 1, 42);
      expect(guard.conflicts(max - 1, 42)).toBe(false);
      expect(guard.conflicts(max - 1, 43)).toBe(true);
      guard.record(0, 5);
      expect(guard.conflicts(0, 6)).toBe(true);
    }
  });

  it('costs about 4 bytes and 1 bit per chunk index used, never the whole of maxChunkCount up front', () => {
    // ArrayBuffer bytes allocated by synchronous code. A collection in between can only lower the
    // figure, so only upper bounds are asserted.
    const allocated = (action: () => void): number => {
      const before = process.memoryUsage().arrayBuffers;
      action();
      return process.memoryUsage().arrayBuffers - before;
    };
    const sparse = new ChunkFingerprints(2 ** 24);
    expect(allocated(() => sparse.record(0, 1))).toBeLessThan(64 * 1024);
    const dense = new ChunkFingerprints(2 ** 24);
    const index = 100_000;
    const bytes = allocated(() => dense.record(index, 1));
    expect(bytes).toBeLessThan(4 * (index + 1) + (index + 1) / 8 + 64 * 1024);
    expect(dense.conflicts(index, 2)).toBe(true);
  });
});
