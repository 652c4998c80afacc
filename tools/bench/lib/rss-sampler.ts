/**
 * Resident memory of another process, from /proc/<pid>/status: VmRSS sampled
 * every 50 ms while a measurement runs (its peak is the figure reported), and
 * VmHWM, the kernel's own high-water mark since the process started.
 */
import { readFileSync } from 'node:fs';

export interface MemorySample {
  readonly rssBytes: number;
  readonly hwmBytes: number;
}

export function readMemory(pid: number): MemorySample | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return { rssBytes: field(status, 'VmRSS'), hwmBytes: field(status, 'VmHWM') };
  } catch {
    return undefined; // not Linux, or the process is gone
  }
}

function field(status: string, name: string): number {
  const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
  return match === null ? 0 : Number(match[1]) * 1024;
}

export class RssSampler {
  private peak = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pid: number,
    private readonly intervalMs = 50,
  ) {}

  /** Whether this platform exposes /proc/<pid>/status. */
  get supported(): boolean {
    return readMemory(this.pid) !== undefined;
  }

  start(): void {
    this.peak = 0;
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
  }

  /** Stop and return the peak VmRSS seen since start(), and VmHWM now. */
  stop(): MemorySample {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.sample();
    return { rssBytes: this.peak, hwmBytes: readMemory(this.pid)?.hwmBytes ?? 0 };
  }

  private sample(): void {
    const memory = readMemory(this.pid);
    if (memory !== undefined) this.peak = Math.max(this.peak, memory.rssBytes);
  }
}

export function toMiB(bytes: number): number {
  return Math.round((bytes / (1024 * 1024)) * 10) / 10;
}
