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

let applied = false;

export function keepYoungGenerationSmall(): void {
  if (applied) return;
  applied = true;
  v8.setFlagsFromString('--semi-space-growth-factor=1');
}
