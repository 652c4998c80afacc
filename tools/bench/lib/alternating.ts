/**
 * Alternating rounds: in each round every contender of a group runs once,
 * forwards in even rounds and backwards in odd ones (A B C, C B A, ...), so
 * that a drift of the machine's load or of the disk's state over the run hits
 * every contender alike. The page cache is dropped before each run; in the
 * warm cache state each contender's inputs are then read once, so that the
 * run finds them in memory (as right after a user saved the file).
 */
import { waitForQuiet } from './machine.js';
import { readThrough, type PageCache } from './page-cache.js';
import type { Recorder } from './report.js';

/** Whether a run's input is in the page cache when it starts: cold (evicted) or warm (read just before). */
export type CacheState = 'cold' | 'warm';

export interface RunOutcome {
  readonly seconds: number;
  /** CPU seconds of whatever did the work (server process or peer program); NaN when unknown. */
  readonly cpu: number;
  /** Peak RSS of the server during the run, bytes (cloudlocker runs only). */
  readonly rss?: number;
  /** CPU seconds of the server's JavaScript thread (cloudlocker runs only). */
  readonly mainThreadCpu?: number;
}

export interface Contender {
  /** Series name in the report, e.g. "cloudlocker upload". */
  readonly name: string;
  /** Not installed, or left out with --no-peers: the reason, printed in the report. */
  readonly unavailable?: string;
  /** Untimed: remove what the previous run left, so each run writes a new file. */
  prepare?(round: number): Promise<void>;
  /** The files the run reads (warm cache state: read once before the run). */
  inputs?(round: number): Promise<readonly string[]>;
  run(round: number): Promise<RunOutcome>;
  /** Untimed: check the output (first round), remove what later groups do not need. */
  after?(round: number): Promise<void>;
}

export async function runGroup(
  contenders: readonly Contender[],
  round: number,
  context: {
    readonly recorder: Recorder;
    readonly cache: PageCache;
    readonly bytes: number;
    readonly log?: boolean;
    /** Wait for a quiet machine before each run (default true). */
    readonly quiet?: boolean;
    /** cold (default): inputs evicted before each run; warm: evicted, then read once. */
    readonly cacheState?: CacheState;
  },
): Promise<void> {
  const present = contenders.filter((c) => c.unavailable === undefined);
  const order = round % 2 === 0 ? present : [...present].reverse();
  for (const contender of order) {
    await contender.prepare?.(round);
    context.cache.drop();
    if (context.cacheState === 'warm') for (const input of (await contender.inputs?.(round)) ?? []) await readThrough(input);
    const busy = context.quiet === false ? undefined : await waitForQuiet();
    if (busy !== undefined) context.recorder.add('CPU busy before the run (others)', 'fraction', Math.round(busy * 100) / 100);
    const outcome = await contender.run(round);
    context.recorder.add(contender.name, 's', outcome.seconds, context.bytes);
    if (!Number.isNaN(outcome.cpu)) context.recorder.add(`${contender.name} (CPU seconds)`, 's CPU', outcome.cpu);
    if (outcome.mainThreadCpu !== undefined && !Number.isNaN(outcome.mainThreadCpu)) {
      context.recorder.add(`${contender.name} (main-thread CPU seconds)`, 's CPU', outcome.mainThreadCpu);
    }
    if (outcome.rss !== undefined) context.recorder.add(`${contender.name}: server peak RSS`, 'MiB', outcome.rss / 1024 ** 2);
    if (context.log !== false) {
      process.stderr.write(`  round ${round + 1}: ${contender.name} ${outcome.seconds.toFixed(3)} s (load ${context.recorder.loadMonitor.now()})\n`);
    }
    await contender.after?.(round);
  }
  for (const contender of contenders) {
    if (contender.unavailable !== undefined && round === 0) context.recorder.series(contender.name, 's').note = contender.unavailable;
  }
}
