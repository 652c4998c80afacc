/**
 * Remembers a 32-bit fingerprint (the tag's first 4 bytes) of every chunk a
 * sealer has encrypted. Encrypting index i twice is safe only with the same
 * plaintext (a retry that re-read the source); different plaintext would
 * reuse the nonce under the same key, which breaks AES-GCM and
 * ChaCha20-Poly1305 alike, so the sealer withholds such a chunk.
 * Costs 4 bytes and 1 bit per chunk (64 MiB per TiB). Used by every format's
 * sealer (v1's FileEncryptor, age's AgePayloadSealer).
 */
import { CloudlockerError } from '../errors.js';

export class ChunkFingerprints {
  readonly #maxChunkCount: number;
  #prefixes = new Uint32Array(0);
  #seen = new Uint8Array(0);

  constructor(maxChunkCount: number) {
    this.#maxChunkCount = maxChunkCount;
  }

  /**
   * Lets a freshly sealed chunk out, or withholds it: `sealed` holds the
   * ciphertext of `plaintextLength` bytes followed by its tag. A chunk sealed
   * before with other content is zeroed and refused as SOURCE_CHANGED.
   */
  admit(index: number, sealed: Buffer, plaintextLength: number): Buffer {
    const fingerprint = sealed.readUInt32BE(plaintextLength);
    if (this.conflicts(index, fingerprint)) {
      sealed.fill(0);
      throw new CloudlockerError(
        'SOURCE_CHANGED',
        `The file changed while it was being uploaded (chunk ${index} was read twice with different contents): ` +
          'upload it again once it is no longer being written.',
        { details: { chunkIndex: index } },
      );
    }
    this.record(index, fingerprint);
    return sealed;
  }

  /** True when `index` was encrypted before with a different result. */
  conflicts(index: number, fingerprint: number): boolean {
    if (!this.#has(index)) return false;
    return this.#prefixes[index] !== fingerprint;
  }

  record(index: number, fingerprint: number): void {
    this.#grow(index + 1);
    this.#prefixes[index] = fingerprint;
    this.#seen[index >>> 3] |= 1 << (index & 7);
  }

  #has(index: number): boolean {
    return index < this.#prefixes.length && (this.#seen[index >>> 3] & (1 << (index & 7))) !== 0;
  }

  #grow(needed: number): void {
    if (needed <= this.#prefixes.length) return;
    const size = Math.min(this.#maxChunkCount, Math.max(needed, this.#prefixes.length * 2, 64));
    const prefixes = new Uint32Array(size);
    prefixes.set(this.#prefixes);
    const seen = new Uint8Array(Math.ceil(size / 8));
    seen.set(this.#seen);
    this.#prefixes = prefixes;
    this.#seen = seen;
  }
}
