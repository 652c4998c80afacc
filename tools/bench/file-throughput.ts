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
 *     [--baseline-build DIR] [--keep] [--keep-server] [--cache-states cold,warm] [--skip-rclone]
 *
 * Each cloudlocker run gets a new server process (same data directory and
 * key), as each peer run is a new process; --keep-server uses one server for
 * every run instead (see ServerRunner for why that is not the default).
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
import { makeWorkDir, measure, measureLocal, ServerRunner } from './lib/session.js';
import { medianPairRatio } from './lib/stats.js';

const args = new Args();
const common = args.common(3);
const size = args.size('size', 1024 ** 3);
const keepWorkDir = args.flag('keep');
const baselineBuild = args.string('baseline-build');
const cacheStates = parseCacheStates(args.string('cache-states', 'cold,warm'));

const workDir = await makeWorkDir(common.workDir, 'cloudlocker-bench-');
const recorder = new Recorder('file throughput: local store vs cp, age, rclone crypt', workDir, {
  size,
  rounds: common.rounds,
  peers: common.peers,
  serverPerRun: !args.flag('keep-server'),
  cacheStates: cacheStates.join(','),
});
const cache = new PageCache(common.dropCache, [workDir]);
const out = path.join(workDir, 'out');
await mkdir(out);
const source = path.join(workDir, 'source.bin');
const rcloneStore = path.join(workDir, 'rclone-store');

const hasAge = common.peers && isInstalled('age') && isInstalled('age-keygen');
// --skip-rclone: rclone's runs take longest and no target of issue 13 names it.
const skipRclone = args.flag('skip-rclone');
const hasRclone = common.peers && !skipRclone && isInstalled('rclone');
const skipped = (tool: string) => (common.peers ? `${tool} not installed` : 'left out (--no-peers)');
recorder.report.peers['cp'] = versionOf('cp');
recorder.report.peers['dd'] = versionOf('dd');
recorder.report.peers['age'] = hasAge ? versionOf('age') : skipped('age');
recorder.report.peers['rclone'] = hasRclone ? versionOf('rclone', ['version']) : skipRclone ? 'left out (--skip-rclone)' : skipped('rclone');

process.stderr.write(`work dir ${workDir}: writing a ${size}-byte random file\n`);
await createRandomFile(source, size);
const restartEachRun = !args.flag('keep-server');
const cloudlockerData = path.join(workDir, 'server');
const baselineData = path.join(workDir, 'baseline-server');
const cloudlocker = new ServerRunner(workDir, { dataDir: cloudlockerData, nodeArgs: common.serverNodeArgs }, restartEachRun);
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
    {
      name: named('cloudlocker upload'),
      inputs: sourceOnly,
      async run(round) {
        const m = await cloudlocker.use((s) => measure(s.server, () => s.upload(source, objectName(round))));
        return { seconds: m.seconds, cpu: m.serverCpu, mainThreadCpu: m.serverMainCpu, rss: m.serverRss };
      },
    },
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
    {
      name: named('cloudlocker download'),
      inputs: () => largeFilesUnder(cloudlockerData),
      async run(round) {
        const m = await cloudlocker.use((s) => measure(s.server, () => s.download(objectName(round), file('cl-down', round))));
        return { seconds: m.seconds, cpu: m.serverCpu, mainThreadCpu: m.serverMainCpu, rss: m.serverRss };
      },
      async after(round) {
        await verify('cloudlocker download', file('cl-down', round), round);
        await removePath(file('cl-down', round));
        await cloudlocker.use((s) => s.client.call('deleteFile', { name: objectName(round) }));
      },
    },
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
  await cloudlocker.close();
  await baseline?.close();
}
recorder.report.pageCache = cache.status;

const ratio = (a: string, b: string) => medianPairRatio(recorder.values(a), recorder.values(b));
for (const state of cacheStates) {
  const named = (name: string) => `${name} (${state})`;
  const figure = (text: string) => `${text}, ${state}`;
  const up = named('cloudlocker upload');
  const down = named('cloudlocker download');
  recorder.check(figure('upload ÷ dd conv=fsync'), ratio(up, named('dd conv=fsync (upload group)')), '<=', 1.3, 'x');
  recorder.check(figure('download ÷ dd conv=fsync'), ratio(down, named('dd conv=fsync (download group)')), '<=', 1.3, 'x');
  recorder.check(figure('upload ÷ age -e'), ratio(up, named('age -e')), '<=', 1.0, 'x');
  recorder.check(figure('download ÷ age -d'), ratio(down, named('age -d')), '<=', 1.0, 'x');
  recorder.check(figure('upload ÷ cp'), ratio(up, named('cp (upload group)')), '<=', 1.3, 'x');
  recorder.check(figure('download ÷ cp'), ratio(down, named('cp (download group)')), '<=', 1.3, 'x');
  recorder.check(figure('upload ÷ rclone crypt upload'), ratio(up, named('rclone crypt upload')), '<=', 0.6, 'x');
  recorder.figure(figure('download ÷ rclone crypt download'), ratio(down, named('rclone crypt download')), 'x');
  const peak = (name: string) => Math.max(...recorder.values(name));
  recorder.check(figure(`server peak RSS, upload of ${formatSize(size)}`), peak(`${up}: server peak RSS`), '<=', 150, ' MiB');
  recorder.check(figure(`server peak RSS, download of ${formatSize(size)}`), peak(`${down}: server peak RSS`), '<=', 150, ' MiB');
  if (baseline !== undefined) {
    recorder.figure(figure('upload ÷ baseline build upload'), ratio(up, named('baseline build upload')), 'x');
    recorder.figure(figure('download ÷ baseline build download'), ratio(down, named('baseline build download')), 'x');
    recorder.figure(figure('upload server CPU ÷ baseline'), ratio(`${up} (CPU seconds)`, `${named('baseline build upload')} (CPU seconds)`), 'x');
    recorder.figure(figure('download server CPU ÷ baseline'), ratio(`${down} (CPU seconds)`, `${named('baseline build download')} (CPU seconds)`), 'x');
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
