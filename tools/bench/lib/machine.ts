/**
 * What the figures were measured on: cores, CPU, memory, the disk under the
 * work directory, Node, and the load average while the run went on (other
 * processes share these machines, and every figure should say how busy it was).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

export interface MachineInfo {
  readonly nproc: number;
  readonly cpuModel: string;
  /** CPU flags that matter for the ciphers compared (AES-NI, carry-less multiply, AVX2, SHA). */
  readonly cpuFlags: string[];
  readonly memoryGiB: number;
  /** `df -T` of the work directory: device, file system type and size. */
  readonly disk: string;
  readonly node: string;
  readonly kernel: string;
}

export function describeMachine(workDir: string): MachineInfo {
  return {
    nproc: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    cpuFlags: cpuFlags(),
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    disk: describeDisk(workDir),
    node: process.version,
    kernel: `${os.type()} ${os.release()}`,
  };
}

function cpuFlags(): string[] {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags')) ?? '';
    const flags = new Set(line.split(':')[1]?.trim().split(/\s+/));
    return ['aes', 'pclmulqdq', 'avx2', 'vaes', 'vpclmulqdq', 'sha_ni'].filter((flag) => flags.has(flag));
  } catch {
    return [];
  }
}

function describeDisk(directory: string): string {
  const result = spawnSync('df', ['-hT', directory], { encoding: 'utf8' });
  const line = result.status === 0 ? result.stdout.trim().split('\n')[1] : undefined;
  if (line === undefined) return 'unknown';
  const [device, type, size, used, available] = line.split(/\s+/);
  return `${device} ${type} ${size} (${used} used, ${available} free)`;
}

/** Load averages sampled through the run. */
export class LoadMonitor {
  private readonly samples: number[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(intervalMs = 5000) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  /** The 1-minute load average now. */
  now(): number {
    return round2(os.loadavg()[0] ?? 0);
  }

  summary(): { min: number; max: number; median: number } {
    clearInterval(this.timer);
    this.sample();
    const sorted = [...this.samples].sort((a, b) => a - b);
    return {
      min: sorted[0] ?? 0,
      max: sorted[sorted.length - 1] ?? 0,
      median: sorted[Math.floor(sorted.length / 2)] ?? 0,
    };
  }

  private sample(): void {
    this.samples.push(this.now());
  }
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

/** Fraction of all CPU time that was busy (not idle, not waiting on I/O) over `ms`, from /proc/stat. */
export async function cpuBusyFraction(ms: number): Promise<number | undefined> {
  const read = (): { busy: number; total: number } | undefined => {
    try {
      const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
      const total = fields.reduce((sum, value) => sum + value, 0);
      const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
      return { busy: total - idle, total };
    } catch {
      return undefined;
    }
  };
  const before = read();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const after = read();
  if (before === undefined || after === undefined || after.total === before.total) return undefined;
  return (after.busy - before.busy) / (after.total - before.total);
}

/**
 * Wait until the machine is quiet: less than `threshold` of the CPU busy
 * over half a second, or `maxWaitMs` have passed. Other people's jobs on a
 * shared 2-core machine make a run that overlaps them several times slower
 * (CPU-bound programs like cloudlocker, age and rclone more than cp), so
 * each run starts in a quiet moment when there is one. Resolves with the
 * busy fraction last seen (undefined where /proc/stat is missing).
 */
export async function waitForQuiet(maxWaitMs = 20_000, threshold = 0.15): Promise<number | undefined> {
  const deadline = Date.now() + maxWaitMs;
  for (;;) {
    const busy = await cpuBusyFraction(500);
    if (busy === undefined || busy < threshold || Date.now() >= deadline) return busy;
  }
}
