/**
 * Upload and download of one large random file through cloudlocker (server
 * in its own process, local store, timed as the client sees it: request sent
 * to answer received), against, in the same run and alternating:
 *   cp              the same file copied (the disk's limit),
 *   dd bs=1M conv=fsync  the same, flushed by dd itself,
 *   age -e / -d     X25519 recipient from age-keygen,
 *   rclone copyto   through a crypt remote over a local remote (both directions).
 * Every output is fsynced inside its timed interval, as cloudlocker fsyncs
 * what it writes. Also records the server's peak RSS during each transfer.
 *
 * Two cache states, alternating within each round (--cache-states cold,warm,
 * the default; or either alone): cold evicts every input from the page cache
 * before each run (the file was saved long ago), warm then reads the run's
 * input once (the file was just saved, the object just stored). Every series
 * and figure names its state.
 *
 *   npm run build && node dist/tools/bench/file-throughput.js [--size 1GiB] [--rounds 3] [--json FILE]
 *     [--work-dir DIR] [--no-peers] [--no-drop-cache] [--server-node-args "--cpu-prof --cpu-prof-dir DIR"]
 *     [--baseline-build DIR] [--keep] [--keep-server] [--cache-states cold,warm] [--skip-peers cp,age,rclone]
 *     [--format v1,age,age-pq]
 *
 * Each cloudlocker run gets a new server process (same data directory and
 * key), as each peer run is a new process; --keep-server uses one server for
 * every run instead (see ServerRunner for why that is not the default).
 *
 * --format chooses the stored format(s) cloudlocker writes, through the kind
 * of key the bench creates: v1, age (X25519 identity, the default) or age-pq
 * (post-quantum hybrid). Several, comma-separated, run side by side, each
 * with its own server and key: age against v1 and age-pq against age in the
 * same run.
 *
 * --baseline-build DIR adds a second server, run from another build (a
 * directory with that build's dist/ and package.json), as one more contender:
 * before/after figures of a change, taken in the same run.
 *
 * Targets, in each cache state: upload and download <= 1.3x dd conv=fsync (and cp),
 * <= 1.0x age, upload <= 0.6x rclone;
 * server peak RSS <= 150 MiB.
 */
import { mkdir, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Args, formatSize } from './lib/cli-args.js';
import { type CacheState, type Contender, runGroup } from './lib/alternating.js';
import { createRandomFile, fsyncPath, removePath, sameContent } from './lib/files.js';
import { PageCache } from './lib/page-cache.js';
import { createAgeIdentity, isInstalled, rcloneCryptOverLocal, run, versionOf } from './lib/peers.js';
import { Recorder } from './lib/report.js';
import { keyTypeFor, makeWorkDir, measure, measureLocal, parseFormats, ServerRunner } from './lib/session.js';
import { medianPairRatio } from './lib/stats.js';

const args = new Args();
const common = args.common(3);
const size = args.size('size', 1024 ** 3);
const keepWorkDir = args.flag('keep');
const baselineBuild = args.string('baseline-build');
const cacheStates = parseCacheStates(args.string('cache-states', 'cold,warm'));
const formats = parseFormats(args.string('format', 'age'));

const workDir = await makeWorkDir(common.workDir, 'cloudlocker-bench-');
const recorder = new Recorder('file throughput: local store vs cp, age, rclone crypt', workDir, {
  size,
  rounds: common.rounds,
  peers: common.peers,
  serverPerRun: !args.flag('keep-server'),
  cacheStates: cacheStates.join(','),
  formats: formats.join(','),
});
const cache = new PageCache(common.dropCache, [workDir]);
const out = path.join(workDir, 'out');
await mkdir(out);
const source = path.join(workDir, 'source.bin');
const rcloneStore = path.join(workDir, 'rclone-store');

// --skip-peers cp,rclone: leave peers out of a long run (rclone's runs take longest; dd is the floor cp used to be).
const skippedPeers = new Set((args.string('skip-peers') ?? '').split(',').filter((peer) => peer !== ''));
for (const peer of skippedPeers) if (!['cp', 'age', 'rclone'].includes(peer)) throw new Error(`--skip-peers takes cp, age and/or rclone, got "${peer}"`);
const hasCp = !skippedPeers.has('cp');
const hasAge = common.peers && !skippedPeers.has('age') && isInstalled('age') && isInstalled('age-keygen');
const hasRclone = common.peers && !skippedPeers.has('rclone') && isInstalled('rclone');
const skipped = (tool: string) => (skippedPeers.has(tool) ? 'left out (--skip-peers)' : common.peers ? `${tool} not installed` : 'left out (--no-peers)');
recorder.report.peers['cp'] = hasCp ? versionOf('cp') : skipped('cp');
recorder.report.peers['dd'] = versionOf('dd');
recorder.report.peers['age'] = hasAge ? versionOf('age') : skipped('age');
recorder.report.peers['rclone'] = hasRclone ? versionOf('rclone', ['version']) : skipped('rclone');

process.stderr.write(`work dir ${workDir}: writing a ${size}-byte random file\n`);
await createRandomFile(source, size);
const restartEachRun = !args.flag('keep-server');
const baselineData = path.join(workDir, 'baseline-server');
/** One server runner per format measured: its own data directory and key of that format. */
const servers = formats.map((format) => {
  const dataDir = path.join(workDir, `server-${format}`);
  return { format, dataDir, runner: new ServerRunner(workDir, { dataDir, keyType: keyTypeFor(format), nodeArgs: common.serverNodeArgs }, restartEachRun) };
});
const baseline =
  baselineBuild === undefined
    ? undefined
    : new ServerRunner(workDir, { build: baselineBuild, dataDir: baselineData, nodeArgs: common.serverNodeArgs }, restartEachRun);
const age = hasAge ? await createAgeIdentity(workDir) : undefined;
const rclone = hasRclone ? await rcloneCryptOverLocal(rcloneStore, workDir) : undefined;

/** dd bs=1M conv=fsync of the source: read, write and flush, no transform (the floor for any tool that reads, transforms and durably writes). */
function timedDd(output: string) {
  return measureLocal(() => run('dd', [`if=${source}`, `of=${output}`, 'bs=1M', 'conv=fsync', 'status=none']));
}

async function timedCommand(command: string, args: string[], output: string, env?: NodeJS.ProcessEnv) {
  return measureLocal(async () => {
    await run(command, args, env);
    await fsyncPath(output);
  });
}

async function verify(label: string, output: string, round: number): Promise<void> {
  if (round === 0 && !(await sameContent(source, output))) throw new Error(`${label}: the output differs from the source`);
}

/** Files of at least `size` bytes under `directory`: a store's object (the only large file a server's data directory holds between runs). */
async function largeFilesUnder(directory: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(directory, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath ?? entry.path, entry.name);
    if ((await stat(full)).size >= size) found.push(full);
  }
  return found;
}

function groupsFor(state: CacheState): { uploads: Contender[]; downloads: Contender[] } {
  const objectName = (round: number) => `bench-${state}-${round}.bin`;
  const file = (label: string, round: number) => path.join(out, `${label}-${state}-${round}`);
  const named = (name: string) => `${name} (${state})`;
  const sourceOnly = async () => [source];
  const uploads: Contender[] = [
    {
      name: named('cp (upload group)'),
      ...(hasCp ? {} : { unavailable: recorder.report.peers['cp'] }),
      prepare: (round) => removePath(file('cp-up', round)),
      inputs: sourceOnly,
      run: (round) => timedCommand('cp', [source, file('cp-up', round)], file('cp-up', round)),
      after: (round) => removePath(file('cp-up', round)),
    },
    {
      name: named('dd conv=fsync (upload group)'),
      inputs: sourceOnly,
      run: (round) => timedDd(file('dd-up', round)),
      after: (round) => removePath(file('dd-up', round)),
    },
    ...servers.map(
      ({ format, runner }): Contender => ({
        name: named(`cloudlocker ${format} upload`),
        inputs: sourceOnly,
        async run(round) {
          const m = await runner.use((s) => measure(s.server, () => s.upload(source, objectName(round))));
          return { seconds: m.seconds, cpu: m.serverCpu, mainThreadCpu: m.serverMainCpu, rss: m.serverRss };
        },
      }),
    ),
    {
      name: named('age -e'),
      ...(age === undefined ? { unavailable: recorder.report.peers['age'] } : {}),
      inputs: sourceOnly,
      run: (round) => timedCommand('age', ['-r', age!.recipient, '-o', file('age', round), source], file('age', round)),
    },
    {
      name: named('rclone crypt upload'),
      ...(rclone === undefined ? { unavailable: recorder.report.peers['rclone'] } : {}),
      prepare: () => removePath(rcloneStore),
      inputs: sourceOnly,
      run: (round) =>
        measureLocal(async () => {
          await run('rclone', ['copyto', source, `${rclone!.crypt}${objectName(round)}`], rclone!.env);
          await fsyncPath(rcloneStore);
        }),
    },
  ];
  if (baseline !== undefined) {
    uploads.push({
      name: named('baseline build upload'),
      inputs: sourceOnly,
      async run(round) {
        const m = await baseline.use((s) => measure(s.server, () => s.upload(source, objectName(round))));
        return { seconds: m.seconds, cpu: m.serverCpu, mainThreadCpu: m.serverMainCpu, rss: m.serverRss };
      },
    });
  }

  const downloads: Contender[] = [
    {
      name: named('cp (download group)'),
      ...(hasCp ? {} : { unavailable: recorder.report.peers['cp'] }),
      inputs: sourceOnly,
      run: (round) => timedCommand('cp', [source, file('cp-down', round)], file('cp-down', round)),
      after: (round) => removePath(file('cp-down', round)),
    },
    {
      name: named('dd conv=fsync (download group)'),
      inputs: sourceOnly,
      run: (round) => timedDd(file('dd-down', round)),
      after: (round) => removePath(file('dd-down', round)),
    },
    ...servers.map(
      ({ format, dataDir, runner }): Contender => ({
        name: named(`cloudlocker ${format} download`),
        inputs: () => largeFilesUnder(dataDir),
        async run(round) {
          const m = await runner.use((s) => measure(s.server, () => s.download(objectName(round), file(`cl-${format}-down`, round))));
          return { seconds: m.seconds, cpu: m.serverCpu, mainThreadCpu: m.serverMainCpu, rss: m.serverRss };
        },
        async after(round) {
          await verify(`cloudlocker ${format} download`, file(`cl-${format}-down`, round), round);
          await removePath(file(`cl-${format}-down`, round));
          await runner.use((s) => s.client.call('deleteFile', { name: objectName(round) }));
        },
      }),
    ),
    {
      name: named('age -d'),
      ...(age === undefined ? { unavailable: recorder.report.peers['age'] } : {}),
      inputs: async (round) => [file('age', round)],
      run: (round) =>
        timedCommand('age', ['-d', '-i', age!.identityFile, '-o', file('age-down', round), file('age', round)], file('age-down', round)),
      async after(round) {
        await verify('age -d', file('age-down', round), round);
        await removePath(file('age-down', round));
        await removePath(file('age', round));
      },
    },
    {
      name: named('rclone crypt download'),
      ...(rclone === undefined ? { unavailable: recorder.report.peers['rclone'] } : {}),
      inputs: async () => [rcloneStore],
      run: (round) =>
        timedCommand('rclone', ['copyto', `${rclone!.crypt}${objectName(round)}`, file('rclone-down', round)], file('rclone-down', round), rclone!.env),
      async after(round) {
        await verify('rclone crypt download', file('rclone-down', round), round);
        await removePath(file('rclone-down', round));
        await removePath(rcloneStore);
      },
    },
  ];
  if (baseline !== undefined) {
    downloads.push({
      name: named('baseline build download'),
      inputs: () => largeFilesUnder(baselineData),
      async run(round) {
        const m = await baseline.use((s) => measure(s.server, () => s.download(objectName(round), file('base-down', round))));
        return { seconds: m.seconds, cpu: m.serverCpu, mainThreadCpu: m.serverMainCpu, rss: m.serverRss };
      },
      async after(round) {
        await verify('baseline download', file('base-down', round), round);
        await removePath(file('base-down', round));
        await baseline.use((s) => s.client.call('deleteFile', { name: objectName(round) }));
      },
    });
  }
  return { uploads, downloads };
}

const groups = new Map(cacheStates.map((state) => [state, groupsFor(state)] as const));

try {
  for (let round = 0; round < common.rounds; round++) {
    // The cache states alternate too (cold, warm; warm, cold; ...); each state's downloads read what its uploads stored.
    const states = round % 2 === 0 ? cacheStates : [...cacheStates].reverse();
    for (const state of states) {
      const { uploads, downloads } = groups.get(state)!;
      await runGroup(uploads, round, { recorder, cache, bytes: size, quiet: common.quiet, cacheState: state });
      await runGroup(downloads, round, { recorder, cache, bytes: size, quiet: common.quiet, cacheState: state });
    }
  }
} finally {
  for (const { runner } of servers) await runner.close();
  await baseline?.close();
}
recorder.report.pageCache = cache.status;

const ratio = (a: string, b: string) => medianPairRatio(recorder.values(a), recorder.values(b));
for (const state of cacheStates) {
  const named = (name: string) => `${name} (${state})`;
  const figure = (text: string) => `${text}, ${state}`;
  const peak = (name: string) => Math.max(...recorder.values(name));
  for (const { format } of servers) {
    const up = named(`cloudlocker ${format} upload`);
    const down = named(`cloudlocker ${format} download`);
    recorder.check(figure(`${format} upload ÷ dd conv=fsync`), ratio(up, named('dd conv=fsync (upload group)')), '<=', 1.3, 'x');
    recorder.check(figure(`${format} download ÷ dd conv=fsync`), ratio(down, named('dd conv=fsync (download group)')), '<=', 1.3, 'x');
    recorder.check(figure(`${format} upload ÷ age -e`), ratio(up, named('age -e')), '<=', 1.0, 'x');
    recorder.check(figure(`${format} download ÷ age -d`), ratio(down, named('age -d')), '<=', 1.0, 'x');
    recorder.check(figure(`${format} upload ÷ cp`), ratio(up, named('cp (upload group)')), '<=', 1.3, 'x');
    recorder.check(figure(`${format} download ÷ cp`), ratio(down, named('cp (download group)')), '<=', 1.3, 'x');
    recorder.check(figure(`${format} upload ÷ rclone crypt upload`), ratio(up, named('rclone crypt upload')), '<=', 0.6, 'x');
    recorder.figure(figure(`${format} download ÷ rclone crypt download`), ratio(down, named('rclone crypt download')), 'x');
    recorder.check(figure(`${format} server peak RSS, upload of ${formatSize(size)}`), peak(`${up}: server peak RSS`), '<=', 150, ' MiB');
    recorder.check(figure(`${format} server peak RSS, download of ${formatSize(size)}`), peak(`${down}: server peak RSS`), '<=', 150, ' MiB');
    if (baseline !== undefined) {
      // The baseline build writes its own default format (v1 before format v2): compare like with like.
      recorder.figure(figure(`${format} upload ÷ baseline build upload`), ratio(up, named('baseline build upload')), 'x');
      recorder.figure(figure(`${format} download ÷ baseline build download`), ratio(down, named('baseline build download')), 'x');
      recorder.figure(figure(`${format} upload server CPU ÷ baseline`), ratio(`${up} (CPU seconds)`, `${named('baseline build upload')} (CPU seconds)`), 'x');
      recorder.figure(figure(`${format} download server CPU ÷ baseline`), ratio(`${down} (CPU seconds)`, `${named('baseline build download')} (CPU seconds)`), 'x');
    }
  }
  // Speed of format v2 against v1 (v1's time ÷ age's), and hybrid against X25519 (hybrid's time ÷ X25519's).
  const series = (format: string, direction: string) => named(`cloudlocker ${format} ${direction}`);
  if (formats.includes('age') && formats.includes('v1')) {
    recorder.check(figure('age upload speed ÷ v1 upload speed'), ratio(series('v1', 'upload'), series('age', 'upload')), '>=', 0.95, 'x');
    recorder.check(figure('age download speed ÷ v1 download speed'), ratio(series('v1', 'download'), series('age', 'download')), '>=', 0.95, 'x');
  }
  if (formats.includes('age') && formats.includes('age-pq')) {
    recorder.check(figure('age-pq upload time ÷ age upload time'), ratio(series('age-pq', 'upload'), series('age', 'upload')), '<=', 1.05, 'x');
    recorder.figure(figure('age-pq download time ÷ age download time'), ratio(series('age-pq', 'download'), series('age', 'download')), 'x');
  }
}
if (baseline !== undefined) recorder.note(`baseline build: ${baselineBuild}`);
recorder.note('times include an fsync of every output (cloudlocker fsyncs before it answers; dd runs with conv=fsync)');
recorder.note('cold: every input evicted from the page cache before each run; warm: evicted, then read once just before the run');

await recorder.finish(common.jsonFile);
if (!keepWorkDir) await removePath(workDir);

function parseCacheStates(text: string): CacheState[] {
  const states = text.split(',').map((state) => state.trim());
  for (const state of states) if (state !== 'cold' && state !== 'warm') throw new Error(`--cache-states takes cold and/or warm, got "${state}"`);
  return [...new Set(states)] as CacheState[];
}
