/**
 * Per-connection admission of JSON-RPC messages: a rate limit (token
 * bucket) and a cap on requests in progress, so that one client cannot
 * monopolise the server's event loop or pile up unbounded work.
 *
 * - Every message costs one token: a request, a notification, each entry of
 *   a batch, and a frame that is not even valid JSON. Tokens come back at
 *   `ratePerSecond`, up to `burst`.
 * - A request that finds no token, or finds `maxInFlight` requests of its
 *   connection still running, is not run: it is answered BUSY (-32011) with
 *   `data.retryAfterMs`. A notification in that position is dropped (it has
 *   no id to answer).
 * - A client that keeps sending while refused (more than `burst` refused
 *   messages in a row) is not listening: `onAbuse` is called once, and the
 *   server closes the connection with 1008 (policy violation).
 */
import { CloudlockerError, toErrorObject } from '../errors.js';
import type { ProtocolError } from '../../protocol/index.js';

export interface RequestGateLimits {
  /** Messages per second a connection may send, on average. */
  readonly ratePerSecond: number;
  /** Messages a connection may send at once, after being quiet. */
  readonly burst: number;
  /** Requests of one connection that may be running at the same time. */
  readonly maxInFlight: number;
}

/** What the dispatcher needs: admit a message or say why not. */
export interface RequestGate {
  /** Count one message that will not run (malformed, not a request). False when it was over the rate. */
  charge(): boolean;
  /**
   * Admit one request: charge it and take an in-flight slot. Returns the
   * error to answer instead, or undefined; an admitted request must be
   * followed by exactly one leave() once it has finished.
   */
  enter(): ProtocolError | undefined;
  leave(): void;
}

export interface ConnectionGateOptions extends RequestGateLimits {
  /** Called once when the client keeps sending while refused. */
  readonly onAbuse?: () => void;
  /** Milliseconds clock, injectable for tests. Default performance.now. */
  readonly now?: () => number;
}

/** A token bucket: `capacity` tokens, refilled continuously at `ratePerSecond`. */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly capacity: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = capacity;
    this.updatedAt = now();
  }

  /** Take one token if there is one. */
  take(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Milliseconds until the next token is there (0 when one is there now). */
  msUntilNext(): number {
    this.refill();
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.ratePerSecond) * 1000);
  }

  private refill(): void {
    const now = this.now();
    const elapsedSeconds = Math.max(0, now - this.updatedAt) / 1000;
    this.updatedAt = now;
    this.tokens = Math.min(this.capacity, this.tokens + elapsedSeconds * this.ratePerSecond);
  }
}

export class ConnectionGate implements RequestGate {
  private readonly bucket: TokenBucket;
  private inFlight = 0;
  private refusedInARow = 0;
  private abuseReported = false;

  constructor(private readonly options: ConnectionGateOptions) {
    this.bucket = new TokenBucket(options.ratePerSecond, options.burst, options.now);
  }

  /** Requests of this connection running now. */
  get requestsInFlight(): number {
    return this.inFlight;
  }

  charge(): boolean {
    if (this.bucket.take()) {
      this.refusedInARow = 0;
      return true;
    }
    this.noteRefusal();
    return false;
  }

  enter(): ProtocolError | undefined {
    if (!this.charge()) {
      const retryAfterMs = Math.max(1, this.bucket.msUntilNext());
      return toErrorObject(
        new CloudlockerError('BUSY', `Too many requests on this connection: slow down and retry after ${retryAfterMs} ms.`, {
          details: { retryAfterMs },
        }),
      );
    }
    if (this.inFlight >= this.options.maxInFlight) {
      this.noteRefusal();
      return toErrorObject(
        new CloudlockerError(
          'BUSY',
          `Too many requests in progress on this connection (at most ${this.options.maxInFlight}): wait for some answers, then retry.`,
          { details: { retryAfterMs: 100 } },
        ),
      );
    }
    this.inFlight += 1;
    return undefined;
  }

  leave(): void {
    if (this.inFlight > 0) this.inFlight -= 1;
  }

  private noteRefusal(): void {
    this.refusedInARow += 1;
    if (this.refusedInARow > this.options.burst && !this.abuseReported) {
      this.abuseReported = true;
      this.options.onAbuse?.();
    }
  }
}
