/**
 * Transfer rate over a sliding window, so the rate and ETA a UI shows follow
 * what is happening now rather than the average since the start.
 */
const WINDOW_MS = 3000;
/** Samples closer together than this are merged, which keeps the window small on fast transfers. */
const BUCKET_MS = 100;

export class RateMeter {
  private readonly samples: Array<{ at: number; bytes: number }> = [];
  private startedAt: number | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  start(): void {
    this.startedAt = this.now();
  }

  record(bytes: number): void {
    const at = this.now();
    const last = this.samples[this.samples.length - 1];
    if (last !== undefined && at - last.at < BUCKET_MS) last.bytes += bytes;
    else this.samples.push({ at, bytes });
    this.dropOld(at);
  }

  bytesPerSecond(): number {
    const at = this.now();
    this.dropOld(at);
    if (this.startedAt === undefined || this.samples.length === 0) return 0;
    const windowStart = Math.max(this.startedAt, at - WINDOW_MS);
    const elapsedMs = Math.max(at - windowStart, BUCKET_MS);
    const bytes = this.samples.reduce((sum, sample) => sum + sample.bytes, 0);
    return (bytes * 1000) / elapsedMs;
  }

  /** Forget every sample (the transfer is over). */
  reset(): void {
    this.samples.length = 0;
  }

  private dropOld(at: number): void {
    while (this.samples.length > 0 && this.samples[0]!.at < at - WINDOW_MS) this.samples.shift();
  }
}
