/**
 * Keeps V8's young generation at its starting size for the life of the
 * process, so that the garbage a transfer makes is collected by cheap
 * scavenges rather than by full mark-compacts, and the heap stays small.
 *
 * Why: every 64 KiB chunk leaves garbage behind (the cipher's output, read
 * as a string: crypto/aes-gcm.ts). While the young generation is small,
 * scavenges come often and free it at once. V8 otherwise grows the young
 * generation (to 16 MiB semi-spaces, here during start-up already), which
 * costs RSS and, while cipher outputs were still off-heap Buffers, let
 * dead buffers pile up until full collections ran 20-40 times a second.
 * The CLI sets it before loading anything (cli/early-gc-tuning.ts); the
 * figures are in docs/benchmarks.md, changes 1 and 9.
 *
 * The flag is read each time V8 considers growing the young generation, so
 * setting it after start works (checked: --max-semi-space-size, read only at
 * start, does not). It is process-wide, so only the `cloudlocker` command
 * sets it by default; an app embedding startCloudlocker() opts in with
 * `tuneGarbageCollection: true` (or calls keepYoungGenerationSmall() first).
 */
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';

let applied = false;

export function keepYoungGenerationSmall(): void {
  if (applied) return;
  applied = true;
  v8.setFlagsFromString('--semi-space-growth-factor=1');
}

/**
 * Growth of the heap's used size, over the least seen since the last
 * collection made here, past which a folder group asks for a full collection
 * (collectIfHeapGrew).
 */
export const HEAP_GROWTH_BEFORE_COLLECT = 24 * 1024 * 1024;

let fullCollection: (() => void) | undefined;
let leastUsedSince: number | undefined;

/**
 * V8's gc(), exposed at run time (the flag is read when gc() is looked up in
 * a new context). A runtime where that does not work (the flag ignored, no
 * gc in the new context) gets a collection that does nothing: memory is then
 * left to V8, and a transfer never fails over it.
 */
function exposedFullCollection(): () => void {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('typeof gc === "function" ? gc : undefined');
    if (typeof gc === 'function') return gc as () => void;
  } catch {
    // Falls through to the no-op below.
  }
  return () => {};
}

/**
 * A full collection when the heap grew by HEAP_GROWTH_BEFORE_COLLECT since
 * the last one (only in a process that opted into this tuning:
 * keepYoungGenerationSmall). True when it collected.
 *
 * Why: a folder group runs up to 32 small files at once (transfer-engine.ts,
 * SMALL_FILES_PER_SLOT). What each of them allocates lives across a few
 * scavenges, so much of it is promoted to the old generation, where it stays,
 * dead, until V8 runs a full collection; V8 lets the old generation grow far
 * before it does (measured, 2 000 x 4 KiB: 15 MiB of it promoted on the way up,
 * the live heap 4 MiB more than at the start; 10 000 files: peak RSS 157 MiB
 * up, 160 down, over the 150 MiB limit). With it: 123 / 115 MiB, about five
 * more full collections per 10 000 files (docs/benchmarks.md, small-files).
 */
export function collectIfHeapGrew(
  usedHeap: () => number = () => v8.getHeapStatistics().used_heap_size,
  collect: () => void = () => (fullCollection ??= exposedFullCollection())(),
): boolean {
  if (!applied) return false;
  const used = usedHeap();
  leastUsedSince = Math.min(leastUsedSince ?? used, used);
  if (used - leastUsedSince < HEAP_GROWTH_BEFORE_COLLECT) return false;
  collect();
  leastUsedSince = usedHeap();
  return true;
}
