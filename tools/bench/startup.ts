/**
 * The bundle's size, cold start to "listening" from the bundle and from
 * dist/ (alternating rounds, certificate already made, warm disk), and idle
 * RSS after start, local-only and with the S3 store (against s3rver).
 *
 *   npm run bundle && node dist/tools/bench/startup.js [--rounds 10] [--baseline-build DIR | --baseline DIR/dist]
 *
 * --baseline-build DIR: an earlier build (a checkout with node_modules, built
 * with `npm run build && npm run bundle`), as the other benchmarks take it;
 * --baseline DIR: that build's dist/ itself (e.g. `cp -r dist .bench-base/`,
 * made inside the repository so its imports still find node_modules). Its
 * bundle and dist/ then join the same alternating rounds, and the report
 * gives each one's ratio to the baseline: on a shared, noisy machine a
 * same-run ratio means more than two separate runs. The baseline's bundle
 * starts on a data directory of its own, made ready the same way (its
 * certificate and its own code cache): the code cache is one file per
 * runtime in the data directory, so two bundles sharing one would each find
 * the other's cache and start without one.
 *
 * "Cold start" is a new `node` process each time: spawn → the
 * "cloudlocker listening on" line on stdout. The first start (not counted)
 * makes the certificate and, given time after listening, the bundle's V8 code
 * cache in the data directory (src/cli/code-cache.ts); "bundle, no code
 * cache" is the same bundle with CLOUDLOCKER_CODE_CACHE=off, in the same rounds.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { startLocalS3Server, S3RVER_ACCESS_KEY_ID, S3RVER_SECRET_ACCESS_KEY } from '../s3-server.js';
import { median, medianPairRatio } from './lib/stats.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const bundleEntry = path.join(root, 'dist', 'bundle', 'cloudlocker.mjs');
/** The main file the entry compiles with the code cache (tools/bundle.ts); an older bundle has none. */
const bundleMain = path.join(root, 'dist', 'bundle', 'cloudlocker-main.js');
const distEntry = path.join(root, 'dist', 'src', 'cli', 'main.js');
const roundsIndex = process.argv.indexOf('--rounds');
const rounds = roundsIndex === -1 ? 10 : Number(process.argv[roundsIndex + 1]);
const baselineIndex = process.argv.indexOf('--baseline');
const baselineBuildIndex = process.argv.indexOf('--baseline-build');
const baselineDist =
  baselineBuildIndex !== -1
    ? path.resolve(process.argv[baselineBuildIndex + 1]!, 'dist')
    : baselineIndex === -1
      ? undefined
      : path.resolve(process.argv[baselineIndex + 1]!);

interface Started {
  readonly ms: number;
  /** CPU time (user + system) the process used up to "listening": less sensitive to a busy machine than wall time. */
  readonly cpuMs: number;
  readonly rssKiB: number;
}

async function startOnce(entry: string, dataDir: string, extra: string[], env: Record<string, string>, idleMs: number): Promise<Started> {
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, [entry, 'serve', '--port', '0', '--data-dir', dataDir, '--log-level', 'warn', ...extra], {
    cwd: tmpdir(),
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let wall: number | undefined;
  let cpuMs = NaN;
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const ms = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      if (stdout.includes('listening on') && wall === undefined) {
        wall = Number(process.hrtime.bigint() - started) / 1e6;
        // utime and stime, fields 14 and 15 of /proc/PID/stat, in clock ticks (100 per second on Linux).
        void readFile(`/proc/${child.pid}/stat`, 'utf8').then((stat) => {
          const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
          cpuMs = (Number(fields[11]) + Number(fields[12])) * 10;
          resolve(wall!);
        }, () => resolve(wall!));
      }
    });
    child.on('exit', () => reject(new Error(`exited before listening: ${stderr}`)));
  });
  await new Promise((resolve) => setTimeout(resolve, idleMs));
  const status = await readFile(`/proc/${child.pid}/status`, 'utf8').catch(() => '');
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  const exited = new Promise((resolve) => child.on('exit', resolve));
  child.kill('SIGTERM');
  await exited;
  return { ms, cpuMs, rssKiB };
}

const work = await mkdtemp(path.join(tmpdir(), 'cloudlocker-bench-startup-'));
try {
  // Bundle size.
  let entryBytes = 0;
  let chunkBytes = 0;
  let gzipBytes = 0;
  const chunksDir = path.join(path.dirname(bundleEntry), 'chunks');
  const entryText = await readFile(bundleEntry);
  const mainText = await readFile(bundleMain).catch(() => Buffer.alloc(0));
  entryBytes = entryText.length + mainText.length;
  gzipBytes += gzipSync(entryText).length + gzipSync(mainText).length;
  // The chunks the entry loads at every start: named in the entry as "./chunks/…" strings (static imports, or the list it imports for the main file).
  const staticChunks = [...entryText.toString('utf8').matchAll(/"\.\/chunks\/([^"]+)"/g)].map((match) => match[1]!);
  let staticBytes = 0;
  const chunks = await readdir(chunksDir);
  for (const chunk of chunks) {
    const bytes = await readFile(path.join(chunksDir, chunk));
    chunkBytes += bytes.length;
    gzipBytes += gzipSync(bytes).length;
    if (staticChunks.includes(chunk)) staticBytes += bytes.length;
  }
  const s3Chunk = chunks.find((chunk) => chunk.startsWith('s3-'));
  const s3Bytes = s3Chunk === undefined ? 0 : (await stat(path.join(chunksDir, s3Chunk))).size;
  console.log(`bundle: entry ${(entryText.length / 1024).toFixed(1)} KiB + main file ${(mainText.length / 1024).toFixed(0)} KiB + statically imported chunks ${(staticBytes / 1024).toFixed(1)} KiB; ${chunks.length} chunks ${(chunkBytes / 1024).toFixed(0)} KiB in all (S3 chunk ${(s3Bytes / 1024).toFixed(0)} KiB); total ${((entryBytes + chunkBytes) / 1024).toFixed(0)} KiB, gzip ${(gzipBytes / 1024).toFixed(0)} KiB`);

  // Cold start, alternating bundle and dist (and the baseline's), certificate made beforehand, and the code
  // cache (written a second after listening: src/cli/code-cache.ts WRITE_DELAY_MS).
  const dataDir = path.join(work, 'data');
  await startOnce(bundleEntry, dataDir, [], {}, 3000);
  // The baseline's bundle gets a data directory of its own, with its own certificate and code cache.
  const baselineDataDir = path.join(work, 'data-baseline');
  const baselineBundle = baselineDist === undefined ? undefined : path.join(baselineDist, 'bundle', 'cloudlocker.mjs');
  if (baselineBundle !== undefined) await startOnce(baselineBundle, baselineDataDir, [], {}, 3000);
  const entries: Array<[string, string, Record<string, string>?, string?]> = [
    ['bundle', bundleEntry],
    ['bundle, no code cache', bundleEntry, { CLOUDLOCKER_CODE_CACHE: 'off' }],
    ['dist', distEntry],
  ];
  // The floor: `node` itself starting an ES module that prints the line at once. What this machine
  // charges before any cloudlocker code runs; the ≤ 150 ms target has to fit above it.
  const floorScript = path.join(work, 'floor.mjs');
  await writeFile(floorScript, "process.stdout.write('cloudlocker listening on (floor)\\n'); setInterval(() => {}, 60_000);\n");
  entries.push(['node floor', floorScript]);
  if (baselineDist !== undefined && baselineBundle !== undefined) {
    entries.push(['baseline bundle', baselineBundle, {}, baselineDataDir], ['baseline dist', path.join(baselineDist, 'src', 'cli', 'main.js')]);
  }
  const times = new Map<string, number[]>(entries.map(([label]) => [label, []]));
  const cpu = new Map<string, number[]>(entries.map(([label]) => [label, []]));
  const load = loadavg().map((value) => value.toFixed(2)).join(' ');
  for (let round = 0; round < rounds; round += 1) {
    // Each round starts with a different entry, so none is always first (or always right after another).
    const order = entries.map((_entry, index) => entries[(index + round) % entries.length]!);
    for (const [label, entry, env, entryDataDir] of order) {
      const run = await startOnce(entry, entryDataDir ?? dataDir, [], env ?? {}, 0);
      times.get(label)!.push(run.ms);
      cpu.get(label)!.push(run.cpuMs);
    }
  }
  for (const [label] of entries) {
    const wall = times.get(label)!;
    const cpuMs = cpu.get(label)!;
    console.log(`cold start to listening, ${label}: median ${median(wall).toFixed(0)} ms, min ${Math.min(...wall).toFixed(0)} ms, max ${Math.max(...wall).toFixed(0)} ms (${rounds} rounds); CPU time to listening: median ${median(cpuMs).toFixed(0)} ms, min ${Math.min(...cpuMs).toFixed(0)} ms`);
  }
  // Ratio of the medians, and the median of the per-round ratios (the same round's two starts: load drift hits both alike).
  const ratio = (a: string, b: string) =>
    `${a}/${b}: wall ${(median(times.get(a)!) / median(times.get(b)!)).toFixed(2)} (per round ${medianPairRatio(times.get(a)!, times.get(b)!).toFixed(2)}), CPU ${(median(cpu.get(a)!) / median(cpu.get(b)!)).toFixed(2)}`;
  const aboveFloor = (label: string) => `${label} ${(median(cpu.get(label)!) - median(cpu.get('node floor')!)).toFixed(0)} ms`;
  console.log(`CPU time above the node floor (medians): ${aboveFloor('bundle')}, ${aboveFloor('dist')}${baselineDist === undefined ? '' : `, ${aboveFloor('baseline bundle')}, ${aboveFloor('baseline dist')}`}`);
  console.log(`same-run ratios (medians): ${ratio('bundle', 'dist')}; ${ratio('bundle', 'bundle, no code cache')}${baselineDist === undefined ? '' : `; ${ratio('bundle', 'baseline bundle')}; ${ratio('dist', 'baseline dist')}`}`);
  console.log(`load average before: ${load}; after the start-up rounds: ${loadavg().map((value) => value.toFixed(2)).join(' ')}`);

  // Idle RSS, 3 s after listening.
  const local: number[] = [];
  const localDist: number[] = [];
  const localBaseline: number[] = [];
  const localNoCache: number[] = [];
  for (let round = 0; round < 3; round += 1) {
    local.push((await startOnce(bundleEntry, dataDir, [], {}, 3000)).rssKiB);
    localNoCache.push((await startOnce(bundleEntry, dataDir, [], { CLOUDLOCKER_CODE_CACHE: 'off' }, 3000)).rssKiB);
    localDist.push((await startOnce(distEntry, dataDir, [], {}, 3000)).rssKiB);
    if (baselineBundle !== undefined) localBaseline.push((await startOnce(baselineBundle, baselineDataDir, [], {}, 3000)).rssKiB);
  }
  const s3Directory = path.join(work, 's3');
  const s3 = await startLocalS3Server({ port: 0, directory: s3Directory, buckets: ['bench-bucket'] });
  const withS3: number[] = [];
  try {
    const s3Data = path.join(work, 'data-s3');
    const s3Flags = ['--storage', 's3', '--s3-bucket', 'bench-bucket', '--s3-endpoint', s3.endpoint, '--s3-force-path-style'];
    const s3Env = { AWS_ACCESS_KEY_ID: S3RVER_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: S3RVER_SECRET_ACCESS_KEY };
    for (let round = 0; round < 3; round += 1) withS3.push((await startOnce(bundleEntry, s3Data, s3Flags, s3Env, 3000)).rssKiB);
  } finally {
    await s3.stop();
  }
  const mib = (values: number[]) => `${(median(values) / 1024).toFixed(1)} MiB (of ${values.map((value) => (value / 1024).toFixed(1)).join(', ')})`;
  console.log(`idle RSS 3 s after listening: bundle local ${mib(local)}; bundle local, no code cache ${mib(localNoCache)}; dist local ${mib(localDist)}; bundle S3 ${mib(withS3)}${baselineDist === undefined ? '' : `; baseline bundle local ${mib(localBaseline)}`}`);
  console.log(`load average after: ${loadavg().map((value) => value.toFixed(2)).join(' ')}`);
} finally {
  await rm(work, { recursive: true, force: true });
}
