/**
 * Upload and download of one large random file through cloudlocker (server
 * in its own process, local store, timed as the client sees it: request sent
 * to answer received), against, in the same run and alternating:
 *   cp              the same file copied (the disk's limit),
 *   age -e / -d     X25519 recipient from age-keygen,
 *   rclone copyto   through a crypt remote over a local remote (both directions).
 * Every output is fsynced inside its timed interval, as cloudlocker fsyncs
 * what it writes. Also records the server's peak RSS during each transfer.
 *
 *   npm run build && node dist/tools/bench/file-throughput.js [--size 1GiB] [--rounds 3] [--json FILE]
 *     [--work-dir DIR] [--no-peers] [--no-drop-cache] [--server-node-args "--cpu-prof --cpu-prof-dir DIR"]
 *     [--baseline-build DIR] [--keep] [--keep-server]
 *
 * Each cloudlocker run gets a new server process (same data directory and
 * key), as each peer run is a new process; --keep-server uses one server for
 * every run instead (see ServerRunner for why that is not the default).
 *
 * --baseline-build DIR adds a second server, run from another build (a
 * directory with that build's dist/ and package.json), as one more contender:
 * before/after figures of a change, taken in the same run.
 *
 * Targets: upload and download <= 1.3x cp, <= 1.0x age, upload <= 0.6x rclone;
 * server peak RSS <= 150 MiB.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Args, formatSize } from './lib/cli-args.js';
import { type Contender, runGroup } from './lib/alternating.js';
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

const workDir = await makeWorkDir(common.workDir, 'cloudlocker-bench-');
const recorder = new Recorder('file throughput: local store vs cp, age, rclone crypt', workDir, {
  size,
  rounds: common.rounds,
  peers: common.peers,
  serverPerRun: !args.flag('keep-server'),
});
const cache = new PageCache(common.dropCache, [workDir]);
const out = path.join(workDir, 'out');
await mkdir(out);
const source = path.join(workDir, 'source.bin');
const rcloneStore = path.join(workDir, 'rclone-store');

const hasAge = common.peers && isInstalled('age') && isInstalled('age-keygen');
const hasRclone = common.peers && isInstalled('rclone');
const skipped = (tool: string) => (common.peers ? `${tool} not installed` : 'left out (--no-peers)');
recorder.report.peers['cp'] = versionOf('cp');
recorder.report.peers['age'] = hasAge ? versionOf('age') : skipped('age');
recorder.report.peers['rclone'] = hasRclone ? versionOf('rclone', ['version']) : skipped('rclone');

process.stderr.write(`work dir ${workDir}: writing a ${size}-byte random file\n`);
await createRandomFile(source, size);
const restartEachRun = !args.flag('keep-server');
const cloudlocker = new ServerRunner(workDir, { dataDir: path.join(workDir, 'server'), nodeArgs: common.serverNodeArgs }, restartEachRun);
const baseline =
  baselineBuild === undefined
    ? undefined
    : new ServerRunner(workDir, { build: baselineBuild, dataDir: path.join(workDir, 'baseline-server'), nodeArgs: common.serverNodeArgs }, restartEachRun);
const age = hasAge ? await createAgeIdentity(workDir) : undefined;
const rclone = hasRclone ? await rcloneCryptOverLocal(rcloneStore, workDir) : undefined;

const objectName = (round: number) => `bench-${round}.bin`;
const file = (label: string, round: number) => path.join(out, `${label}-${round}`);

async function timedCommand(command: string, args: string[], output: string, env?: NodeJS.ProcessEnv) {
  return measureLocal(async () => {
    await run(command, args, env);
    await fsyncPath(output);
  });
}

async function verify(label: string, output: string, round: number): Promise<void> {
  if (round === 0 && !(await sameContent(source, output))) throw new Error(`${label}: the output differs from the source`);
}

const uploads: Contender[] = [
  {
    name: 'cp (upload group)',
    prepare: (round) => removePath(file('cp-up', round)),
    run: (round) => timedCommand('cp', [source, file('cp-up', round)], file('cp-up', round)),
    after: (round) => removePath(file('cp-up', round)),
  },
  {
    name: 'cloudlocker upload',
    async run(round) {
      const m = await cloudlocker.use((s) => measure(s.server, () => s.upload(source, objectName(round))));
      return { seconds: m.seconds, cpu: m.serverCpu, mainThreadCpu: m.serverMainCpu, rss: m.serverRss };
    },
  },
  {
    name: 'age -e',
    ...(age === undefined ? { unavailable: recorder.report.peers['age'] } : {}),
    run: (round) => timedCommand('age', ['-r', age!.recipient, '-o', file('age', round), source], file('age', round)),
  },
  {
    name: 'rclone crypt upload',
    ...(rclone === undefined ? { unavailable: recorder.report.peers['rclone'] } : {}),
    prepare: () => removePath(rcloneStore),
    run: (round) =>
      measureLocal(async () => {
        await run('rclone', ['copyto', source, `${rclone!.crypt}${objectName(round)}`], rclone!.env);
        await fsyncPath(rcloneStore);
      }),
  },
];

if (baseline !== undefined) {
  uploads.push({
    name: 'baseline build upload',
    async run(round) {
      const m = await baseline.use((s) => measure(s.server, () => s.upload(source, objectName(round))));
      return { seconds: m.seconds, cpu: m.serverCpu, mainThreadCpu: m.serverMainCpu, rss: m.serverRss };
    },
  });
}

const downloads: Contender[] = [
  {
    name: 'cp (download group)',
    run: (round) => timedCommand('cp', [source, file('cp-down', round)], file('cp-down', round)),
    after: (round) => removePath(file('cp-down', round)),
  },
  {
    name: 'cloudlocker download',
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
    name: 'age -d',
    ...(age === undefined ? { unavailable: recorder.report.peers['age'] } : {}),
    run: (round) =>
      timedCommand('age', ['-d', '-i', age!.identityFile, '-o', file('age-down', round), file('age', round)], file('age-down', round)),
    async after(round) {
      await verify('age -d', file('age-down', round), round);
      await removePath(file('age-down', round));
      await removePath(file('age', round));
    },
  },
  {
    name: 'rclone crypt download',
    ...(rclone === undefined ? { unavailable: recorder.report.peers['rclone'] } : {}),
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
    name: 'baseline build download',
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

try {
  for (let round = 0; round < common.rounds; round++) {
    await runGroup(uploads, round, { recorder, cache, bytes: size, quiet: common.quiet });
    await runGroup(downloads, round, { recorder, cache, bytes: size, quiet: common.quiet });
  }
} finally {
  await cloudlocker.close();
  await baseline?.close();
}
recorder.report.pageCache = cache.status;

const ratio = (a: string, b: string) => medianPairRatio(recorder.values(a), recorder.values(b));
recorder.check('upload ÷ cp', ratio('cloudlocker upload', 'cp (upload group)'), '<=', 1.3, 'x');
recorder.check('download ÷ cp', ratio('cloudlocker download', 'cp (download group)'), '<=', 1.3, 'x');
recorder.check('upload ÷ age -e', ratio('cloudlocker upload', 'age -e'), '<=', 1.0, 'x');
recorder.check('download ÷ age -d', ratio('cloudlocker download', 'age -d'), '<=', 1.0, 'x');
recorder.check('upload ÷ rclone crypt upload', ratio('cloudlocker upload', 'rclone crypt upload'), '<=', 0.6, 'x');
recorder.figure('download ÷ rclone crypt download', ratio('cloudlocker download', 'rclone crypt download'), 'x');
const peak = (name: string) => Math.max(...recorder.values(name));
recorder.check(`server peak RSS, upload of ${formatSize(size)}`, peak('cloudlocker upload: server peak RSS'), '<=', 150, ' MiB');
recorder.check(`server peak RSS, download of ${formatSize(size)}`, peak('cloudlocker download: server peak RSS'), '<=', 150, ' MiB');
if (baseline !== undefined) {
  recorder.figure('upload ÷ baseline build upload', ratio('cloudlocker upload', 'baseline build upload'), 'x');
  recorder.figure('download ÷ baseline build download', ratio('cloudlocker download', 'baseline build download'), 'x');
  recorder.figure('upload server CPU ÷ baseline', ratio('cloudlocker upload (CPU seconds)', 'baseline build upload (CPU seconds)'), 'x');
  recorder.figure('download server CPU ÷ baseline', ratio('cloudlocker download (CPU seconds)', 'baseline build download (CPU seconds)'), 'x');
  recorder.note(`baseline build: ${baselineBuild}`);
}
recorder.note('times include an fsync of every output (cloudlocker fsyncs before it answers)');

await recorder.finish(common.jsonFile);
if (!keepWorkDir) await removePath(workDir);
