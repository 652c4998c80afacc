/**
 * Emptying the page cache between runs, so that each command reads its input
 * from the disk rather than from memory. Two ways:
 *
 * - "files" (default): evict the pages of every file under the work
 *   directory with posix_fadvise(DONTNEED), through GNU dd's
 *   `iflag=nocache count=0`. Only clean pages go, so outputs are fsynced
 *   first (every timed command here fsyncs its output anyway). Leaves the
 *   rest of the machine alone: other programs running beside the benchmark
 *   keep their cache.
 * - "global": `sync` and `echo 3 > /proc/sys/vm/drop_caches` (root only);
 *   also slows down everything else running on the machine.
 * - "off": every command runs with whatever the cache holds.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';

export type CacheMode = 'files' | 'global' | 'off';
export type CacheDropOutcome =
  | 'evicted the work directory files (fadvise DONTNEED)'
  | 'dropped globally (drop_caches)'
  | 'not permitted'
  | 'not available (no GNU dd)'
  | 'disabled';

export class PageCache {
  private outcome: CacheDropOutcome;

  constructor(
    private readonly mode: CacheMode,
    private readonly roots: readonly string[],
  ) {
    this.outcome =
      mode === 'off' ? 'disabled' : mode === 'global' ? 'dropped globally (drop_caches)' : 'evicted the work directory files (fadvise DONTNEED)';
  }

  drop(): void {
    if (this.outcome === 'disabled' || this.outcome === 'not permitted' || this.outcome.startsWith('not available')) return;
    if (this.mode === 'global') {
      spawnSync('sync');
      try {
        writeFileSync('/proc/sys/vm/drop_caches', '3\n');
      } catch {
        this.outcome = 'not permitted';
      }
      return;
    }
    for (const root of this.roots) {
      for (const file of regularFiles(root)) {
        const result = spawnSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none'], { stdio: 'ignore' });
        if (result.error !== undefined || result.status !== 0) {
          this.outcome = 'not available (no GNU dd)';
          return;
        }
      }
    }
  }

  /** What happened between runs, for the report. */
  get status(): CacheDropOutcome {
    return this.outcome;
  }
}

function regularFiles(directory: string): string[] {
  const files: string[] = [];
  let entries;
  try {
    entries = readdirSync(directory, { withFileTypes: true });
  } catch {
    return files; // gone meanwhile
  }
  for (const entry of entries) {
    const full = path.join(directory, entry.name);
    if (entry.isDirectory()) files.push(...regularFiles(full));
    else if (entry.isFile()) files.push(full);
  }
  return files;
}

/** Read a file (or every file under a directory) once, to the end, so that its pages are in the cache. */
export async function readThrough(target: string): Promise<void> {
  const files = regularFiles(target);
  for (const file of files.length > 0 ? files : [target]) {
    const handle = await open(file, 'r');
    try {
      const buffer = Buffer.allocUnsafe(READ_THROUGH_PIECE);
      while ((await handle.read(buffer, 0, buffer.length, null)).bytesRead > 0);
    } finally {
      await handle.close();
    }
  }
}

const READ_THROUGH_PIECE = 1024 * 1024;
