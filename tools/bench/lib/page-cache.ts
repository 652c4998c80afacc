/**
 * Dropping the page cache between runs, so that each command reads its input
 * from the disk rather than from memory. Needs root (and a kernel that lets
 * this container do it); where it is refused every command runs with whatever
 * the cache holds, which treats them equally but favours none.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

export type CacheDropOutcome = 'dropped' | 'not permitted' | 'disabled';

export class PageCache {
  private outcome: CacheDropOutcome;

  constructor(enabled: boolean) {
    this.outcome = enabled ? 'dropped' : 'disabled';
  }

  /** sync, then drop clean pages, dentries and inodes; remembers whether it ever failed. */
  drop(): void {
    if (this.outcome !== 'dropped') return;
    spawnSync('sync');
    try {
      writeFileSync('/proc/sys/vm/drop_caches', '3\n');
    } catch {
      this.outcome = 'not permitted';
    }
  }

  /** What happened between runs, for the report. */
  get status(): CacheDropOutcome {
    return this.outcome;
  }
}
