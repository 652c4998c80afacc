/**
 * Reconnect delays: exponential with full jitter (AWS architecture blog,
 * "Exponential Backoff And Jitter"), so that many windows reconnecting to a
 * restarted service do not arrive in lockstep.
 */

export interface ReconnectOptions {
  /** Delay before the first reconnect attempt, in ms. Default 100. */
  initialDelayMs?: number;
  /** Largest delay between two attempts, in ms. Default 5000. */
  maxDelayMs?: number;
  /** Growth of the delay per failed attempt. Default 2. */
  factor?: number;
  /** Give up (state "closed") after this many failed attempts in a row. Default Infinity: keep trying. */
  maxAttempts?: number;
}

export const DEFAULT_RECONNECT: Required<ReconnectOptions> = {
  initialDelayMs: 100,
  maxDelayMs: 5000,
  factor: 2,
  maxAttempts: Number.POSITIVE_INFINITY,
};

/**
 * The delay before attempt `attempt` (1 for the first), between half the
 * exponential value and the value itself: full jitter, but never so short
 * that a dead service is hammered.
 */
export function reconnectDelay(attempt: number, options: Required<ReconnectOptions>, random: () => number = Math.random): number {
  const exponential = Math.min(options.maxDelayMs, options.initialDelayMs * options.factor ** Math.max(0, attempt - 1));
  return Math.round(exponential / 2 + (random() * exponential) / 2);
}
