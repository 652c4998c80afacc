/**
 * Flush-behind for a large file written in parts: once enough new bytes have
 * been written, a datasync of the file starts in libuv's thread pool while
 * the writer goes on (encrypting, reading, writing the next parts), so that
 * the disk writes back the file as it grows instead of all at once at the
 * end. finish() then waits for the flush in flight and makes the file
 * durable with one last fsync, which has little left to write.
 *
 * Why: the kernel keeps a freshly written file in the page cache (on a
 * machine with memory to spare, all of it), so without this the whole file
 * goes to the disk in the final fsync, after the pipeline, and a transfer
 * takes pipeline + write-back instead of about the longer of the two
 * (docs/benchmarks.md, "Flush-behind"). Node has no sync_file_range; a
 * datasync of the whole file is what it offers on every platform
 * (FlushFileBuffers on Windows), and only pages not yet written cost
 * anything.
 *
 * Never weaker than one fsync at the end: a background flush that fails is
 * remembered and rethrown by finish() (on Linux a failed write-back is
 * reported once: swallowing it would let the final fsync succeed over lost
 * data).
 */

/** What FlushBehind needs of a file handle (a FileHandle fits). */
export interface SyncableFile {
  datasync(): Promise<void>;
  sync(): Promise<void>;
}

/**
 * New bytes after which a background flush starts. In a standalone loop on
 * the bench machine (1 GiB in 1 MiB parts, 4 in flight, ChaCha20-Poly1305,
 * 4 alternating rounds, load about 6) the medians were: one fsync at the end
 * 2.8 s (0.6-0.7 s of it the final fsync), every 32 MiB 2.1 s, every 128 MiB
 * 2.8 s; every 16 MiB (2.5 and 2.8 s in two runs) keeps a flush almost
 * always in flight, holding one of libuv's four threads. Noisy figures; those
 * of the product are in docs/benchmarks.md ("Flush-behind").
 */
export const FLUSH_BEHIND_BYTES = 32 * 1024 * 1024;

export class FlushBehind {
  private unflushed = 0;
  private inFlight: Promise<void> | undefined;
  private failure: { readonly error: unknown } | undefined;

  constructor(
    private readonly file: SyncableFile,
    private readonly thresholdBytes: number = FLUSH_BEHIND_BYTES,
  ) {}

  /** Record `bytes` written; starts a background flush when enough have gathered and none is running. */
  wrote(bytes: number): void {
    this.unflushed += bytes;
    if (this.unflushed < this.thresholdBytes || this.inFlight !== undefined || this.failure !== undefined) return;
    this.unflushed = 0;
    this.inFlight = this.file.datasync().then(
      () => {
        this.inFlight = undefined;
      },
      (error: unknown) => {
        this.failure ??= { error };
        this.inFlight = undefined;
      },
    );
  }

  /** Wait for the flush in flight (if any), without rethrowing its failure: before closing the file. */
  async settle(): Promise<void> {
    await this.inFlight;
  }

  /** Make everything written durable: waits for the flush in flight, rethrows its failure, then fsyncs. */
  async finish(): Promise<void> {
    await this.inFlight;
    if (this.failure !== undefined) throw this.failure.error;
    this.unflushed = 0;
    await this.file.sync();
  }
}
