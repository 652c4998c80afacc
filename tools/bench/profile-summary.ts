/**
 * The top self-time functions of a V8 CPU profile (.cpuprofile, as written by
 * `node --cpu-prof`): where the process spent its time, aggregated by
 * function and by file, with (idle), (garbage collector) and (program) shown
 * as they are. Pass the server's profile: run a bench script with
 * --server-node-args "--cpu-prof --cpu-prof-dir DIR" and look in DIR.
 *
 *   npm run build && node dist/tools/bench/profile-summary.js FILE.cpuprofile [--top 25] [--json FILE]
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Args } from './lib/cli-args.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTimeEntry {
  readonly name: string;
  readonly where: string;
  readonly selfMs: number;
  readonly percent: number;
}

export interface ProfileSummary {
  readonly totalMs: number;
  /** Time not idle: what the process actually computed. */
  readonly busyMs: number;
  readonly functions: SelfTimeEntry[];
  readonly files: SelfTimeEntry[];
}

export function summariseProfile(profile: CpuProfile, top: number): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    // timeDeltas[i] is the time before sample i; the sample stands for the interval that follows, i.e. delta i+1.
    const delta = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, delta));
  });
  const functions = new Map<string, { name: string; where: string; us: number }>();
  const files = new Map<string, { name: string; where: string; us: number }>();
  let totalUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame;
    if (frame === undefined) continue;
    totalUs += us;
    const name = frame.functionName || '(anonymous)';
    if (name === '(idle)') idleUs += us;
    const file = shortUrl(frame.url);
    const where = file === '' ? '' : `${file}:${frame.lineNumber + 1}`;
    const key = `${name}@${where}`;
    const entry = functions.get(key) ?? { name, where, us: 0 };
    entry.us += us;
    functions.set(key, entry);
    const fileKey = file === '' ? name : file;
    const fileEntry = files.get(fileKey) ?? { name: fileKey, where: '', us: 0 };
    fileEntry.us += us;
    files.set(fileKey, fileEntry);
  }
  const rank = (entries: Iterable<{ name: string; where: string; us: number }>) =>
    [...entries]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((e) => ({ name: e.name, where: e.where, selfMs: round(e.us / 1000), percent: round((100 * e.us) / Math.max(1, totalUs)) }));
  return { totalMs: round(totalUs / 1000), busyMs: round((totalUs - idleUs) / 1000), functions: rank(functions.values()), files: rank(files.values()) };
}

function shortUrl(url: string): string {
  if (url === '') return '';
  const withoutScheme = url.replace(/^file:\/\//, '');
  const inModules = withoutScheme.lastIndexOf('node_modules/');
  if (inModules >= 0) return withoutScheme.slice(inModules);
  const inDist = withoutScheme.lastIndexOf('/dist/');
  if (inDist >= 0) return withoutScheme.slice(inDist + 1);
  return withoutScheme.startsWith('node:') ? withoutScheme : path.basename(withoutScheme);
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

export function printSummary(file: string, summary: ProfileSummary): void {
  console.log(`profile ${file}: ${summary.totalMs} ms sampled, ${summary.busyMs} ms not idle`);
  console.log('\n| self ms | % | function | where |');
  console.log('|---:|---:|---|---|');
  for (const e of summary.functions) console.log(`| ${e.selfMs} | ${e.percent} | ${e.name} | ${e.where} |`);
  console.log('\n| self ms | % | file |');
  console.log('|---:|---:|---|');
  for (const e of summary.files) console.log(`| ${e.selfMs} | ${e.percent} | ${e.name} |`);
}

async function main(): Promise<void> {
  const file = process.argv[2];
  if (file === undefined || file.startsWith('--')) throw new Error('usage: profile-summary.js FILE.cpuprofile [--top 25] [--json FILE]');
  const args = new Args(process.argv.slice(3));
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const summary = summariseProfile(profile, Math.floor(args.number('top', 25)));
  printSummary(file, summary);
  const jsonFile = args.string('json');
  if (jsonFile !== undefined) await writeFile(jsonFile, `${JSON.stringify(summary, null, 2)}\n`);
}

await main();
