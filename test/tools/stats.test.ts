/**
 * The benchmarks' order statistics: a median of an even count is the mean of
 * the two middle values, not the lower one (with two rounds the better round
 * must not pass for the median).
 */
import { describe, expect, it } from '@jest/globals';
import { median, medianPairRatio, percentile } from '../../tools/bench/lib/stats.js';

describe('bench stats', () => {
  it('median: the middle value of an odd count, the mean of the two middle ones of an even count, NaN of none', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([0.71, 1.08])).toBeCloseTo(0.895, 10);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
    expect(median([])).toBeNaN();
  });

  it('medianPairRatio: ratios round by round, then their median', () => {
    expect(medianPairRatio([2.78, 2.2], [2.58, 3.08])).toBeCloseTo((2.78 / 2.58 + 2.2 / 3.08) / 2, 10);
    expect(medianPairRatio([1, 2, 3], [1, 1, 1])).toBe(2);
  });

  it('percentile stays nearest-rank', () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 99)).toBe(4);
  });
});
