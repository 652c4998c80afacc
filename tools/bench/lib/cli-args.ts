/**
 * The flags every bench script shares, and a small parser for the rest:
 *
 *   --size 1GiB          file size (B, KiB, MiB, GiB; k/M/G mean the same powers of 1024)
 *   --rounds N           alternating rounds (default 3)
 *   --json FILE          also write the results as JSON
 *   --work-dir DIR       where test files go (default: a new folder under os.tmpdir())
 *   --no-peers           measure cloudlocker only, even when age / rclone are installed
 *   --drop-cache MODE    empty the page cache between runs: files (default; the work
 *                        directory's files only), global (drop_caches, root), off
 *   --no-drop-cache      the same as --drop-cache off
 *   --no-quiet           do not wait for a quiet machine before each run (see waitForQuiet)
 *   --server-node-args "ARGS"  extra node flags for the server process (e.g. --cpu-prof)
 */
import type { CacheMode } from './page-cache.js';

export interface CommonOptions {
  readonly rounds: number;
  readonly jsonFile: string | undefined;
  readonly workDir: string | undefined;
  readonly peers: boolean;
  readonly dropCache: CacheMode;
  readonly serverNodeArgs: string[];
  readonly quiet: boolean;
}

export class Args {
  constructor(private readonly argv: readonly string[] = process.argv.slice(2)) {}

  /** `--name value` (the value may itself start with "--", as node flags do) or `--name=value`. */
  private value(name: string): string | undefined {
    for (let i = 0; i < this.argv.length; i++) {
      const arg = this.argv[i] as string;
      if (arg.startsWith(`--${name}=`)) return arg.slice(name.length + 3);
      if (arg === `--${name}` && i + 1 < this.argv.length) return this.argv[i + 1];
    }
    return undefined;
  }

  string(name: string): string | undefined;
  string(name: string, fallback: string): string;
  string(name: string, fallback?: string): string | undefined {
    return this.value(name) ?? fallback;
  }

  number(name: string, fallback: number): number {
    const value = this.value(name);
    if (value === undefined) return fallback;
    const parsed = Number(value);
    if (!Number.isFinite(parsed)) throw new Error(`--${name} must be a number, got "${value}"`);
    return parsed;
  }

  size(name: string, fallback: number): number {
    const value = this.value(name);
    return value === undefined ? fallback : parseSize(value);
  }

  sizes(name: string, fallback: number[]): number[] {
    const value = this.value(name);
    return value === undefined ? fallback : value.split(',').map(parseSize);
  }

  flag(name: string): boolean {
    return this.argv.includes(`--${name}`) || this.argv.includes(`--${name}=true`);
  }

  common(defaultRounds = 3): CommonOptions {
    return {
      rounds: Math.max(1, Math.floor(this.number('rounds', defaultRounds))),
      jsonFile: this.string('json'),
      workDir: this.string('work-dir'),
      peers: !this.flag('no-peers'),
      dropCache: this.flag('no-drop-cache') ? 'off' : cacheMode(this.string('drop-cache', 'files')),
      serverNodeArgs: (this.string('server-node-args') ?? '').split(/\s+/).filter((arg) => arg !== ''),
      quiet: !this.flag('no-quiet'),
    };
  }
}

function cacheMode(value: string): CacheMode {
  if (value === 'files' || value === 'global' || value === 'off') return value;
  throw new Error(`--drop-cache must be files, global or off, got "${value}"`);
}

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
};

export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = UNITS[match?.[2]?.toLowerCase() ?? 'x'];
  if (match === null || unit === undefined) throw new Error(`not a size: "${text}" (use e.g. 64KiB, 256MiB, 1GiB)`);
  return Math.round(Number(match[1]) * unit);
}

export function formatSize(bytes: number): string {
  for (const [unit, factor] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (bytes >= factor) {
      const value = bytes / factor;
      return `${Number.isInteger(value) ? value : value.toFixed(1)} ${unit}`;
    }
  }
  return `${bytes} B`;
}
