/** Reconnect delays: exponential, capped, jittered between half and the whole. */
import { DEFAULT_RECONNECT, reconnectDelay } from '../../src/client/backoff.js';

const options = { ...DEFAULT_RECONNECT, initialDelayMs: 100, maxDelayMs: 1000, factor: 2 };

it('doubles from the initial delay up to the cap', () => {
  const top = [1, 2, 3, 4, 5, 6].map((attempt) => reconnectDelay(attempt, options, () => 1));
  expect(top).toEqual([100, 200, 400, 800, 1000, 1000]);
});

it('jitters between half the delay and the delay', () => {
  expect(reconnectDelay(3, options, () => 0)).toBe(200);
  expect(reconnectDelay(3, options, () => 0.5)).toBe(300);
  for (let i = 0; i < 200; i += 1) {
    const delay = reconnectDelay(4, options);
    expect(delay).toBeGreaterThanOrEqual(400);
    expect(delay).toBeLessThanOrEqual(800);
  }
});
