/**
 * The per-connection request gate as a unit, on an injected clock: exact
 * token counts, refill, the in-flight cap, BUSY answers and the abuse signal.
 * test/security/limits.integration.test.ts shows the gate at work over a real
 * connection; this pins each rule at its boundary (the mutation audit of
 * issue 18 found them unchecked) and needs no waiting.
 */
import { describe, expect, it, jest } from '@jest/globals';
import { ConnectionGate, TokenBucket } from '../../src/server/request-gate.js';

function clock(start = 1000) {
  let time = start;
  return { now: () => time, advance: (ms: number) => void (time += ms), set: (ms: number) => void (time = ms) };
}

describe('TokenBucket', () => {
  it('starts full: exactly `capacity` tokens, then none', () => {
    const c = clock();
    const bucket = new TokenBucket(10, 3, c.now);
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, true, false]);
  });

  it('refills at ratePerSecond, one token per 1000/rate ms, and says how long until the next', () => {
    const c = clock();
    const bucket = new TokenBucket(10, 2, c.now);
    bucket.take();
    bucket.take();
    expect(bucket.msUntilNext()).toBe(100);
    c.advance(40);
    expect(bucket.msUntilNext()).toBe(60);
    expect(bucket.take()).toBe(false);
    c.advance(50);
    expect(bucket.take()).toBe(false);
    expect(bucket.msUntilNext()).toBe(10);
    c.advance(10);
    expect(bucket.msUntilNext()).toBe(0);
    expect(bucket.take()).toBe(true);
    expect(bucket.take()).toBe(false);
  });

  it('says 0 ms while it holds one token or more', () => {
    const bucket = new TokenBucket(10, 3, clock().now);
    expect(bucket.msUntilNext()).toBe(0);
    bucket.take();
    expect(bucket.msUntilNext()).toBe(0);
  });

  it('never holds more than its capacity, however long it was quiet', () => {
    const c = clock();
    const bucket = new TokenBucket(100, 2, c.now);
    c.advance(60_000);
    expect([bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, false]);
  });

  it('a clock that goes back neither adds nor removes tokens', () => {
    const c = clock(5000);
    const bucket = new TokenBucket(10, 1, c.now);
    expect(bucket.take()).toBe(true);
    c.set(1000);
    expect(bucket.take()).toBe(false);
    expect(bucket.msUntilNext()).toBe(100);
    c.advance(100);
    expect(bucket.take()).toBe(true);
  });

  it('uses performance.now when given no clock', () => {
    const bucket = new TokenBucket(1, 1);
    expect(bucket.take()).toBe(true);
    expect(bucket.take()).toBe(false);
    expect(bucket.msUntilNext()).toBeGreaterThan(0);
    expect(bucket.msUntilNext()).toBeLessThanOrEqual(1000);
  });
});

describe('ConnectionGate', () => {
  const limits = { ratePerSecond: 10, burst: 3, maxInFlight: 2 };

  it('admits up to maxInFlight requests at once, counts them, and frees a slot on leave()', () => {
    const c = clock();
    const gate = new ConnectionGate({ ...limits, burst: 100, now: c.now });
    expect(gate.enter()).toBeUndefined();
    expect(gate.enter()).toBeUndefined();
    expect(gate.requestsInFlight).toBe(2);
    const refused = gate.enter();
    expect(refused).toEqual({
      code: -32011,
      message: 'Too many requests in progress on this connection (at most 2): wait for some answers, then retry.',
      data: { retryAfterMs: 100, reason: 'BUSY' },
    });
    expect(gate.requestsInFlight).toBe(2);
    gate.leave();
    expect(gate.requestsInFlight).toBe(1);
    expect(gate.enter()).toBeUndefined();
    gate.leave();
    gate.leave();
    gate.leave(); // one too many: never below zero
    expect(gate.requestsInFlight).toBe(0);
    expect(gate.enter()).toBeUndefined();
    expect(gate.requestsInFlight).toBe(1);
  });

  it('answers BUSY with the time until the next token once the burst is spent', () => {
    const c = clock();
    const gate = new ConnectionGate({ ...limits, maxInFlight: 100, now: c.now });
    for (let i = 0; i < 3; i++) expect(gate.enter()).toBeUndefined();
    c.advance(30);
    expect(gate.enter()).toEqual({
      code: -32011,
      message: 'Too many requests on this connection: slow down and retry after 70 ms.',
      data: { retryAfterMs: 70, reason: 'BUSY' },
    });
    c.advance(70);
    expect(gate.enter()).toBeUndefined();
  });

  it('never tells a client to retry after 0 ms', () => {
    const c = clock();
    const gate = new ConnectionGate({ ratePerSecond: 1_000_000, burst: 1, maxInFlight: 100, now: c.now });
    expect(gate.enter()).toBeUndefined();
    expect(gate.enter()?.data).toEqual({ retryAfterMs: 1, reason: 'BUSY' });
  });

  it('charge() spends a token without taking a slot, and is false over the rate', () => {
    const c = clock();
    const gate = new ConnectionGate({ ...limits, now: c.now });
    expect([gate.charge(), gate.charge(), gate.charge(), gate.charge()]).toEqual([true, true, true, false]);
    expect(gate.requestsInFlight).toBe(0);
    expect(gate.enter()).toMatchObject({ code: -32011 });
  });

  it('reports abuse once, after more than `burst` refusals in a row, and not before', () => {
    const c = clock();
    const onAbuse = jest.fn();
    const gate = new ConnectionGate({ ...limits, onAbuse, now: c.now });
    for (let i = 0; i < 3; i++) gate.charge();
    for (let i = 0; i < 3; i++) expect(gate.charge()).toBe(false);
    expect(onAbuse).not.toHaveBeenCalled();
    expect(gate.charge()).toBe(false);
    expect(onAbuse).toHaveBeenCalledTimes(1);
    for (let i = 0; i < 10; i++) gate.charge();
    expect(onAbuse).toHaveBeenCalledTimes(1);
  });

  it('a gate without onAbuse keeps refusing without failing', () => {
    const gate = new ConnectionGate({ ...limits, now: clock().now });
    for (let i = 0; i < 20; i++) gate.charge();
    expect(gate.enter()).toMatchObject({ code: -32011 });
  });

  it('a message that gets through starts the count of refusals again', () => {
    const c = clock();
    const onAbuse = jest.fn();
    const gate = new ConnectionGate({ ...limits, onAbuse, now: c.now });
    for (let i = 0; i < 3; i++) gate.charge();
    for (let i = 0; i < 3; i++) gate.charge(); // 3 refused: at the limit
    c.advance(100);
    expect(gate.charge()).toBe(true); // the count starts again
    for (let i = 0; i < 3; i++) gate.charge();
    expect(onAbuse).not.toHaveBeenCalled();
  });

  it('in-flight refusals of a client within the rate are not abuse: each one spent a token that was there', () => {
    const c = clock();
    const onAbuse = jest.fn();
    const gate = new ConnectionGate({ ratePerSecond: 1000, burst: 2, maxInFlight: 1, onAbuse, now: c.now });
    expect(gate.enter()).toBeUndefined();
    for (let i = 0; i < 10; i++) {
      c.advance(10);
      expect(gate.enter()).toMatchObject({ data: { retryAfterMs: 100 } });
    }
    expect(onAbuse).not.toHaveBeenCalled();
  });

  it('in-flight refusals add to rate refusals in a row', () => {
    const c = clock();
    const onAbuse = jest.fn();
    const gate = new ConnectionGate({ ratePerSecond: 10, burst: 2, maxInFlight: 1, onAbuse, now: c.now });
    expect(gate.enter()).toBeUndefined();
    expect(gate.enter()).toMatchObject({ data: { retryAfterMs: 100 } }); // token spent, slot taken: 1 refusal
    expect(gate.enter()).toMatchObject({ data: { retryAfterMs: 100 } }); // no token: 2 in a row
    expect(onAbuse).not.toHaveBeenCalled();
    gate.enter(); // 3 > burst
    expect(onAbuse).toHaveBeenCalledTimes(1);
  });
});
