/**
 * gc-tuning.ts collectIfHeapGrew: what a folder group calls every few settled
 * files, so that what many small files in flight leave in the old generation
 * is collected long before V8 would (peak RSS, docs/benchmarks.md small-files).
 */
import { jest } from '@jest/globals';
import { collectIfHeapGrew, HEAP_GROWTH_BEFORE_COLLECT, keepYoungGenerationSmall } from '../../src/transfer/gc-tuning.js';

const MiB = 1024 * 1024;

/** A heap whose used size is read from `sizes`, in order (the last one repeats). */
function heap(sizes: number[]): () => number {
  let index = 0;
  return () => sizes[Math.min(index++, sizes.length - 1)]! * MiB;
}

describe('collectIfHeapGrew', () => {
  it('does nothing in a process that did not opt into the tuning (an embedding app)', () => {
    const collect = jest.fn();
    expect(collectIfHeapGrew(heap([20]), collect)).toBe(false);
    expect(collectIfHeapGrew(heap([20 + 200]), collect)).toBe(false);
    expect(collect).not.toHaveBeenCalled();
  });

  it('collects once the heap grew by HEAP_GROWTH_BEFORE_COLLECT over the least seen, then measures from what is left', () => {
    keepYoungGenerationSmall();
    const collect = jest.fn();
    const growth = HEAP_GROWTH_BEFORE_COLLECT / MiB;
    expect(collectIfHeapGrew(heap([30]), collect)).toBe(false);
    // V8's own collection brought it lower: growth counts from there.
    expect(collectIfHeapGrew(heap([22]), collect)).toBe(false);
    expect(collectIfHeapGrew(heap([22 + growth - 1]), collect)).toBe(false);
    expect(collect).not.toHaveBeenCalled();
    // Grown enough: one collection, after which the heap holds 21 MiB.
    expect(collectIfHeapGrew(heap([22 + growth, 21]), collect)).toBe(true);
    expect(collect).toHaveBeenCalledTimes(1);
    expect(collectIfHeapGrew(heap([21 + growth - 1]), collect)).toBe(false);
    expect(collectIfHeapGrew(heap([21 + growth, 21]), collect)).toBe(true);
    expect(collect).toHaveBeenCalledTimes(2);
  });

  it("runs V8's full collection (exposed at run time) when none is given", () => {
    keepYoungGenerationSmall();
    const growth = HEAP_GROWTH_BEFORE_COLLECT / MiB;
    expect(collectIfHeapGrew(heap([10]))).toBe(false);
    expect(collectIfHeapGrew(heap([10 + growth, 10]))).toBe(true);
  });
});
