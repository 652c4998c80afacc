/**
 * One shape for every bench script's results: the series measured (each
 * value per round, with the load average at the time), the figures checked
 * against their targets, and what the machine was. Printed as Markdown
 * tables; written as JSON with --json (tools/bench/chart.ts reads it).
 */
import { writeFile } from 'node:fs/promises';
import { formatSize } from './cli-args.js';
import { describeMachine, LoadMonitor, type MachineInfo } from './machine.js';
import type { CacheDropOutcome } from './page-cache.js';
import { median, mibPerSecond } from './stats.js';

export interface Series {
  /** e.g. "cloudlocker upload", "cp", "age -e". */
  readonly name: string;
  /** What a value is: "s" (seconds), "ms", "MiB" (memory), "MiB/s". */
  readonly unit: string;
  readonly values: number[];
  /** 1-minute load average when each value was taken. */
  readonly load: number[];
  /** Bytes moved per run, when the values are durations: gives MiB/s. */
  readonly bytes?: number;
  /** Free text (a peer not installed, a value not comparable...). */
  note?: string;
}

export interface Check {
  readonly figure: string;
  readonly value: number;
  /** Absent for a figure reported without a target. */
  readonly comparator?: '<=' | '>=';
  readonly target?: number;
  readonly met?: boolean;
  readonly unit: string;
}

export interface BenchReport {
  readonly benchmark: string;
  readonly startedAt: string;
  readonly machine: MachineInfo;
  load: { min: number; max: number; median: number } | undefined;
  pageCache: CacheDropOutcome;
  readonly options: Record<string, unknown>;
  readonly peers: Record<string, string>;
  readonly series: Series[];
  readonly checks: Check[];
  readonly notes: string[];
}

export class Recorder {
  readonly report: BenchReport;
  readonly loadMonitor = new LoadMonitor();
  private readonly byName = new Map<string, Series>();

  constructor(benchmark: string, workDir: string, options: Record<string, unknown>) {
    this.report = {
      benchmark,
      startedAt: new Date().toISOString(),
      machine: describeMachine(workDir),
      load: undefined,
      pageCache: 'disabled',
      options,
      peers: {},
      series: [],
      checks: [],
      notes: [],
    };
  }

  series(name: string, unit: string, bytes?: number): Series {
    let series = this.byName.get(name);
    if (series === undefined) {
      series = { name, unit, values: [], load: [], ...(bytes === undefined ? {} : { bytes }) };
      this.byName.set(name, series);
      this.report.series.push(series);
    }
    return series;
  }

  add(name: string, unit: string, value: number, bytes?: number): void {
    const series = this.series(name, unit, bytes);
    series.values.push(value);
    series.load.push(this.loadMonitor.now());
  }

  values(name: string): number[] {
    return this.byName.get(name)?.values ?? [];
  }

  check(figure: string, value: number, comparator: '<=' | '>=', target: number, unit = ''): void {
    if (!Number.isFinite(value)) return;
    const met = comparator === '<=' ? value <= target : value >= target;
    this.report.checks.push({ figure, value: round(value), comparator, target, met, unit });
  }

  /** A figure reported without a target. */
  figure(figure: string, value: number, unit = ''): void {
    if (Number.isFinite(value)) this.report.checks.push({ figure, value: round(value), unit });
  }

  note(text: string): void {
    this.report.notes.push(text);
  }

  /** Print the tables, write --json, and return the report. */
  async finish(jsonFile: string | undefined): Promise<BenchReport> {
    this.report.load = this.loadMonitor.summary();
    printReport(this.report);
    if (jsonFile !== undefined) {
      await writeFile(jsonFile, `${JSON.stringify(this.report, null, 2)}\n`);
      console.log(`\nresults written to ${jsonFile}`);
    }
    return this.report;
  }
}

export function printReport(report: BenchReport): void {
  const { machine } = report;
  console.log(`\n## ${report.benchmark}`);
  console.log(
    `machine: ${machine.nproc} x ${machine.cpuModel} [${machine.cpuFlags.join(' ')}], ${machine.memoryGiB} GiB, ` +
      `disk ${machine.disk}, Node ${machine.node}`,
  );
  console.log(
    `load average (1 min) during the run: ${report.load?.min}..${report.load?.max} (median ${report.load?.median}); ` +
      `page cache between runs: ${report.pageCache}`,
  );
  const options = Object.entries(report.options).map(([k, v]) => `${k}=${typeof v === 'number' && k.toLowerCase().includes('size') ? formatSize(v) : String(v)}`);
  console.log(`options: ${options.join(', ')}`);
  for (const [peer, version] of Object.entries(report.peers)) console.log(`peer ${peer}: ${version}`);
  console.log('');
  console.log('| series | median | unit | MiB/s (median) | runs | load avg |');
  console.log('|---|---:|---|---:|---|---|');
  for (const series of report.series) {
    if (series.values.length === 0) {
      console.log(`| ${series.name} | – | ${series.unit} | – | ${series.note ?? ''} | |`);
      continue;
    }
    const middle = median(series.values);
    const rate = series.bytes !== undefined && series.unit === 's' ? mibPerSecond(series.bytes, middle).toFixed(0) : '';
    const many = series.values.length > 12;
    const runs = many
      ? `${series.values.length} values, ${fmt(Math.min(...series.values))} .. ${fmt(Math.max(...series.values))}`
      : series.values.map((v) => fmt(v)).join(', ');
    const load = many
      ? `${Math.min(...series.load).toFixed(1)} .. ${Math.max(...series.load).toFixed(1)}`
      : series.load.map((l) => l.toFixed(1)).join(', ');
    console.log(`| ${series.name} | ${fmt(middle)} | ${series.unit} | ${rate} | ${runs} | ${load} |`);
  }
  if (report.checks.length > 0) {
    console.log('');
    console.log('| figure | value | target | met |');
    console.log('|---|---:|---:|---|');
    for (const check of report.checks) {
      const target = check.target === undefined ? '–' : `${check.comparator} ${check.target}${check.unit}`;
      const met = check.met === undefined ? '' : check.met ? 'yes' : 'NO';
      console.log(`| ${check.figure} | ${fmt(check.value)}${check.unit} | ${target} | ${met} |`);
    }
  }
  for (const note of report.notes) console.log(`note: ${note}`);
}

function fmt(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(3);
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
