/**
 * Keeps V8's young generation at its starting size for the life of the
 * process, so that the garbage a transfer makes is collected by cheap
 * scavenges rather than by full mark-compacts.
 *
 * Why: Node's cipher.update() returns every chunk's output (64 KiB per
 * chunk, both directions) in a fresh ArrayBuffer that is garbage at once. A
 * scavenge frees young ArrayBuffers, and while the young generation is small
 * scavenges come often enough. But V8 grows the young generation once enough
 * objects have survived scavenges (here after two or three GiB had gone
 * through a server); scavenges then come rarely, dead buffers pile up to V8's
 * external-memory limit (64 MiB above the last full collection), and every
 * time they reach it V8 runs a mark-compact with concurrent marking on four
 * helper threads. Measured on one server doing 1 GiB uploads in a row: from
 * the third on they took 1.5-2.2 s and 2.0-2.5 s of CPU instead of 1.0 s and
 * 1.0 s, with ~20 MiB more peak RSS; with the growth factor at 1 all six
 * took 0.85-1.0 s and 0.84-1.07 s of CPU (tools/bench, docs/benchmarks.md).
 *
 * The flag is read each time V8 considers growing the young generation, so
 * setting it after start works (checked: --max-semi-space-size, read only at
 * start, does not). It is process-wide: an embedding app whose own code
 * prefers a growing young generation can set it back with
 * v8.setFlagsFromString('--semi-space-growth-factor=2') after starting, or
 * pass tuneGarbageCollection: false to the engine.
 */
import v8 from 'node:v8';

let applied = false;

export function keepYoungGenerationSmall(): void {
  if (applied) return;
  applied = true;
  v8.setFlagsFromString('--semi-space-growth-factor=1');
}
