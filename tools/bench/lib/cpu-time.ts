/**
 * CPU seconds from /proc/<pid>/stat: a process's own (user + system) and
 * those of its children that have been waited for. On a shared 2-core
 * machine CPU time is steadier than wall time, and it shows where a
 * pipeline's time goes (a program that is CPU-bound uses about as much CPU
 * time as wall time on one core).
 */
import { readFileSync } from 'node:fs';

/** Linux reports these in clock ticks; USER_HZ is 100 on every common configuration. */
const TICKS_PER_SECOND = 100;

export interface CpuSeconds {
  readonly own: number;
  readonly children: number;
}

export function cpuSeconds(pid: number | 'self' = 'self'): CpuSeconds | undefined {
  return readStat(`/proc/${pid}/stat`);
}

/**
 * CPU seconds of a process's main thread alone (for Node: the JavaScript
 * thread, without the libuv I/O threads and V8's GC helper threads).
 */
export function mainThreadCpuSeconds(pid: number | 'self' = 'self'): number | undefined {
  const id = pid === 'self' ? process.pid : pid;
  return readStat(`/proc/${id}/task/${id}/stat`)?.own;
}

function readStat(file: string): CpuSeconds | undefined {
  try {
    const stat = readFileSync(file, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const at = (n: number) => Number(fields[n - 3]) / TICKS_PER_SECOND;
    return { own: at(14) + at(15), children: at(16) + at(17) };
  } catch {
    return undefined;
  }
}

/** CPU seconds spent between two readings (own + children), NaN when unavailable. */
export function cpuBetween(before: CpuSeconds | undefined, after: CpuSeconds | undefined): number {
  if (before === undefined || after === undefined) return Number.NaN;
  return after.own - before.own + (after.children - before.children);
}
