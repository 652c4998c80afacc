/**
 * Byte-level edits that turn a valid stored object into a damaged one, for
 * the failure vectors. Offsets are absolute, so another implementation can
 * apply them without knowing the format.
 */
export type Mutation =
  /** bytes[offset] ^= mask */
  | { op: 'xor'; offset: number; mask: number }
  /** bytes[offset] = value */
  | { op: 'set'; offset: number; value: number }
  /** keep the first `length` bytes */
  | { op: 'truncate'; length: number }
  /** add bytes at the end */
  | { op: 'append'; hex: string }
  /** remove [offset, offset + length) */
  | { op: 'delete'; offset: number; length: number }
  /** insert a copy of the current [from, from + length) at `at` */
  | { op: 'insert-copy'; at: number; from: number; length: number }
  /** exchange [a, a + length) and [b, b + length) (non-overlapping) */
  | { op: 'swap'; a: number; b: number; length: number }
  /** overwrite [at, at + length) with bytes [from, from + length) of another vector's stored object */
  | { op: 'overwrite-from'; vector: string; from: number; length: number; at: number };

function checkRange(bytes: Buffer, offset: number, length: number): void {
  if (offset < 0 || length < 0 || offset + length > bytes.length) {
    throw new RangeError(`mutation range [${offset}, ${offset + length}) outside ${bytes.length} bytes`);
  }
}

/** Applies `mutations` in order to a copy of `stored`. */
export function applyMutations(
  stored: Buffer,
  mutations: readonly Mutation[],
  otherStored: (vector: string) => Buffer,
): Buffer {
  let bytes = Buffer.from(stored);
  for (const m of mutations) {
    switch (m.op) {
      case 'xor':
        checkRange(bytes, m.offset, 1);
        bytes[m.offset] = (bytes[m.offset] as number) ^ m.mask;
        break;
      case 'set':
        checkRange(bytes, m.offset, 1);
        bytes[m.offset] = m.value;
        break;
      case 'truncate':
        checkRange(bytes, 0, m.length);
        bytes = bytes.subarray(0, m.length);
        break;
      case 'append':
        bytes = Buffer.concat([bytes, Buffer.from(m.hex, 'hex')]);
        break;
      case 'delete':
        checkRange(bytes, m.offset, m.length);
        bytes = Buffer.concat([bytes.subarray(0, m.offset), bytes.subarray(m.offset + m.length)]);
        break;
      case 'insert-copy': {
        checkRange(bytes, m.from, m.length);
        checkRange(bytes, m.at, 0);
        const copy = Buffer.from(bytes.subarray(m.from, m.from + m.length));
        bytes = Buffer.concat([bytes.subarray(0, m.at), copy, bytes.subarray(m.at)]);
        break;
      }
      case 'swap': {
        checkRange(bytes, m.a, m.length);
        checkRange(bytes, m.b, m.length);
        const a = Buffer.from(bytes.subarray(m.a, m.a + m.length));
        bytes.copy(bytes, m.a, m.b, m.b + m.length);
        a.copy(bytes, m.b);
        break;
      }
      case 'overwrite-from': {
        const source = otherStored(m.vector);
        checkRange(source, m.from, m.length);
        checkRange(bytes, m.at, m.length);
        source.copy(bytes, m.at, m.from, m.from + m.length);
        break;
      }
    }
  }
  return bytes;
}
