/** SerialLane: one task at a time, in the order handed in, whatever each one's outcome. */
import { describe, expect, it } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import { SerialLane } from '../../src/serial-lane.js';

describe('SerialLane', () => {
  it('never runs two tasks at once, starts them in order, and goes on after a failure', async () => {
    const lane = new SerialLane();
    const events: string[] = [];
    let running = 0;
    const task = (name: string, ms: number, fail = false) => async () => {
      running += 1;
      expect(running).toBe(1);
      events.push(`start ${name}`);
      await sleep(ms);
      events.push(`end ${name}`);
      running -= 1;
      if (fail) throw new Error(name);
      return name;
    };
    const results = await Promise.allSettled([lane.run(task('a', 20)), lane.run(task('b', 1, true)), lane.run(task('c', 5))]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual(['a', 'b', 'c']);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(events).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  });
});
