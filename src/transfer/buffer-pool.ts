/**
 * Reuses part-sized buffers between parts, so a long transfer does not
 * allocate (and the GC does not sweep) megabytes per part. Only full-size
 * buffers come back often; at most `maxKeptPerSize` of each size, and of at
 * most MAX_SIZES sizes, are kept, which bounds what the pool holds.
 */
const MAX_SIZES = 4;

export class BufferPool {
  private readonly free = new Map<number, Buffer[]>();

  constructor(
    private readonly maxKeptPerSize: number,
    /**
     * Back new buffers with SharedArrayBuffers, so that payload worker
     * threads seal and open chunks in them in place
     * (crypto/payload-workers.ts). Such memory comes zeroed, once per buffer
     * the pool makes.
     */
    private readonly shared = false,
  ) {}

  acquire(size: number): Buffer {
    return this.free.get(size)?.pop() ?? (this.shared ? Buffer.from(new SharedArrayBuffer(size)) : Buffer.allocUnsafe(size));
  }

  release(buffer: Buffer): void {
    let kept = this.free.get(buffer.length);
    if (kept === undefined) {
      if (this.free.size >= MAX_SIZES) return;
      kept = [];
      this.free.set(buffer.length, kept);
    }
    if (kept.length < this.maxKeptPerSize) kept.push(buffer);
  }
}
