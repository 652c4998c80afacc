/**
 * Upload and download through cloudlocker to an S3-compatible server
 * (s3rver, from tools/s3-server.ts, in a process of its own), against
 * `rclone copyto` through a crypt remote over an s3 remote pointed at the same
 * server, in the same run, alternating. Also the cloudlocker server's peak
 * RSS during each transfer. Downloaded files are fsynced inside the timed
 * interval for both (cloudlocker fsyncs before it answers).
 * Targets: cloudlocker <= 0.8x rclone's time; server peak RSS <= 150 MiB.
 *
 *   npm run build && node dist/tools/bench/s3-throughput.js [--store s3rver|rgw] [--size 256MiB] [--rounds 3] [--json FILE] [--no-peers] [--keep-server]
 *     [--baseline-build DIR] [--server-node-args "..."]
 *
 * --store rgw: a throwaway Ceph RADOS Gateway (tools/ceph-s3.sh; Debian's
 * ceph-mon ceph-osd radosgw) instead of s3rver. Its memstore OSD keeps data
 * in RAM and hangs when nearly full: it is sized from --size, every object is
 * deleted after its round, and deleted data is collected after 5 s.
 *
 * --baseline-build DIR adds a second cloudlocker server run from another build
 * (its dist/ and package.json, e.g. main's), uploading and downloading its own
 * objects on the same store in the same rounds: a before/after of a change.
 *
 * Each cloudlocker run gets a new server process, as each rclone run is a new
 * process (see ServerRunner in lib/session.ts); --keep-server keeps one.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Args, formatSize } from './lib/cli-args.js';
import { type Contender, runGroup } from './lib/alternating.js';
import { createRandomFile, fsyncPath, removePath, sameContent } from './lib/files.js';
import { cpuBetween, cpuSeconds } from './lib/cpu-time.js';
import { startRgw, startS3Server } from './lib/bench-stores.js';
import { PageCache } from './lib/page-cache.js';
import { isInstalled, rcloneCryptOverS3, run, versionOf } from './lib/peers.js';
import { Recorder } from './lib/report.js';
import { makeWorkDir, measure, measureLocal, ServerRunner } from './lib/session.js';
import { medianPairRatio } from './lib/stats.js';

const BUCKET = 'cloudlocker-bench';
const args = new Args();
const common = args.common(3);
const size = args.size('size', 256 * 1024 ** 2);
const storeKind = args.string('store', 's3rver');
if (storeKind !== 's3rver' && storeKind !== 'rgw') throw new Error('--store is s3rver or rgw');
const storeName = storeKind === 'rgw' ? 'Ceph RGW' : 's3rver';
const baselineBuild = args.string('baseline-build');

const workDir = await makeWorkDir(common.workDir, 'cloudlocker-bench-s3-');
const recorder = new Recorder(`S3 (${storeName}): cloudlocker vs rclone crypt over s3`, workDir, { size, rounds: common.rounds, peers: common.peers });
const cache = new PageCache(common.dropCache, [workDir]);
const hasRclone = common.peers && isInstalled('rclone');
recorder.report.peers['rclone'] = hasRclone ? versionOf('rclone', ['version']) : common.peers ? 'rclone not installed' : 'left out (--no-peers)';
const out = path.join(workDir, 'out');
await mkdir(out);
const source = path.join(workDir, 'source.bin');
await createRandomFile(source, size);

// RGW: room for the objects of one round (two, three with a baseline build) plus the garbage collector's lag, at RGW's ~2.5x.
const memstoreBytes = Math.max(2 * 1024 ** 3, size * (baselineBuild === undefined ? 5 : 8));
const s3 = storeKind === 'rgw' ? await startRgw(path.join(workDir, 'rgw'), BUCKET, memstoreBytes) : await startS3Server(path.join(workDir, 's3rver'), BUCKET);
const CREDENTIALS = s3.credentials;
const serveArgs = ['--storage', 's3', '--s3-bucket', BUCKET, '--s3-prefix', 'cloudlocker/', '--s3-endpoint', s3.endpoint, '--s3-force-path-style', '--s3-region', 'us-east-1'];
const cloudlocker = new ServerRunner(
  workDir,
  { dataDir: path.join(workDir, 'server'), nodeArgs: common.serverNodeArgs, env: CREDENTIALS, serveArgs },
  !args.flag('keep-server'),
);
const baseline =
  baselineBuild === undefined
    ? undefined
    : new ServerRunner(
        workDir,
        { build: baselineBuild, dataDir: path.join(workDir, 'baseline-server'), nodeArgs: common.serverNodeArgs, env: CREDENTIALS, serveArgs },
        !args.flag('keep-server'),
      );
const rclone = hasRclone
  ? await rcloneCryptOverS3(
      { endpoint: s3.endpoint, bucket: BUCKET, prefix: 'rclone', accessKeyId: CREDENTIALS.AWS_ACCESS_KEY_ID, secretAccessKey: CREDENTIALS.AWS_SECRET_ACCESS_KEY },
      workDir,
    )
  : undefined;
const unavailable = rclone === undefined ? { unavailable: recorder.report.peers['rclone'] } : {};
const objectName = (round: number) => `bench-${round}.bin`;
const baselineObject = (round: number) => `bench-baseline-${round}.bin`;
const file = (label: string, round: number) => path.join(out, `${label}-${round}`);

async function verify(output: string, round: number, label: string): Promise<void> {
  if (round === 0 && !(await sameContent(source, output))) throw new Error(`${label}: the output differs from the source`);
  await removePath(output);
}

const uploads: Contender[] = [
  {
    name: 'cloudlocker upload (S3)',
    async run(round) {
      const m = await cloudlocker.use((s) => measure(s.server, () => s.upload(source, objectName(round))));
      return { seconds: m.seconds, cpu: m.serverCpu, mainThreadCpu: m.serverMainCpu, rss: m.serverRss };
    },
  },
  {
    name: 'rclone crypt upload (S3)',
    ...unavailable,
    run: (round) => measureLocal(() => run('rclone', ['copyto', source, `${rclone!.crypt}${objectName(round)}`], rclone!.env)),
  },
  ...(baseline === undefined
    ? []
    : [
        {
          name: 'baseline build upload (S3)',
          async run(round: number) {
            const m = await baseline.use((s) => measure(s.server, () => s.upload(source, baselineObject(round))));
            return { seconds: m.seconds, cpu: m.serverCpu, mainThreadCpu: m.serverMainCpu, rss: m.serverRss };
          },
        },
      ]),
];
const downloads: Contender[] = [
  {
    name: 'cloudlocker download (S3)',
    async run(round) {
      const m = await cloudlocker.use((s) => measure(s.server, () => s.download(objectName(round), file('cl', round))));
      return { seconds: m.seconds, cpu: m.serverCpu, mainThreadCpu: m.serverMainCpu, rss: m.serverRss };
    },
    async after(round) {
      await verify(file('cl', round), round, 'cloudlocker download');
      await cloudlocker.use((s) => s.client.call('deleteFile', { name: objectName(round) }));
    },
  },
  {
    name: 'rclone crypt download (S3)',
    ...unavailable,
    run: (round) =>
      measureLocal(async () => {
        await run('rclone', ['copyto', `${rclone!.crypt}${objectName(round)}`, file('rclone', round)], rclone!.env);
        await fsyncPath(file('rclone', round));
      }),
    async after(round) {
      await verify(file('rclone', round), round, 'rclone download');
      await run('rclone', ['deletefile', `${rclone!.crypt}${objectName(round)}`], rclone!.env);
    },
  },
  ...(baseline === undefined
    ? []
    : [
        {
          name: 'baseline build download (S3)',
          async run(round: number) {
            const m = await baseline.use((s) => measure(s.server, () => s.download(baselineObject(round), file('base', round))));
            return { seconds: m.seconds, cpu: m.serverCpu, mainThreadCpu: m.serverMainCpu, rss: m.serverRss };
          },
          async after(round: number) {
            await verify(file('base', round), round, 'baseline build download');
            await baseline.use((s) => s.client.call('deleteFile', { name: baselineObject(round) }));
          },
        },
      ]),
];

try {
  for (let round = 0; round < common.rounds; round++) {
    await runGroup(uploads.map(withS3rverCpu), round, { recorder, cache, bytes: size, quiet: common.quiet });
    await runGroup(downloads.map(withS3rverCpu), round, { recorder, cache, bytes: size, quiet: common.quiet });
  }
} finally {
  await cloudlocker.close();
  await baseline?.close();
  await s3.stop();
}
recorder.report.pageCache = cache.status;
const ratio = (a: string, b: string) => medianPairRatio(recorder.values(a), recorder.values(b));
recorder.check('S3 upload time ÷ rclone', ratio('cloudlocker upload (S3)', 'rclone crypt upload (S3)'), '<=', 0.8, 'x');
recorder.check('S3 download time ÷ rclone', ratio('cloudlocker download (S3)', 'rclone crypt download (S3)'), '<=', 0.8, 'x');
if (baseline !== undefined) {
  recorder.figure('S3 upload time ÷ baseline build', ratio('cloudlocker upload (S3)', 'baseline build upload (S3)'), 'x');
  recorder.figure('S3 download time ÷ baseline build', ratio('cloudlocker download (S3)', 'baseline build download (S3)'), 'x');
  recorder.figure('S3 download server CPU ÷ baseline build', ratio('cloudlocker download (S3) (CPU seconds)', 'baseline build download (S3) (CPU seconds)'), 'x');
  recorder.note(`baseline build: ${baselineBuild}`);
}
const peak = (name: string) => Math.max(...recorder.values(name));
recorder.check(`server peak RSS, S3 upload of ${formatSize(size)}`, peak('cloudlocker upload (S3): server peak RSS'), '<=', 150, ' MiB');
recorder.check(`server peak RSS, S3 download of ${formatSize(size)}`, peak('cloudlocker download (S3): server peak RSS'), '<=', 150, ' MiB');
recorder.note(`${storeName} runs on the same 2 cores as the server and rclone: its own CPU time is part of every figure`);
await recorder.finish(common.jsonFile);
await removePath(workDir);

/** The contender, also recording the CPU seconds the store spent serving it (s3rver; radosgw and ceph-osd): it shares the two cores. */
function withS3rverCpu(contender: Contender): Contender {
  return {
    ...contender,
    async run(round) {
      const before = cpuSeconds(s3.pid);
      const osdBefore = s3.osdPid === undefined ? undefined : cpuSeconds(s3.osdPid);
      const outcome = await contender.run(round);
      recorder.add(`${contender.name}: ${storeKind === 'rgw' ? 'radosgw' : 's3rver'} CPU seconds`, 's CPU', cpuBetween(before, cpuSeconds(s3.pid)));
      if (s3.osdPid !== undefined) recorder.add(`${contender.name}: ceph-osd CPU seconds`, 's CPU', cpuBetween(osdBefore, cpuSeconds(s3.osdPid)));
      return outcome;
    },
  };
}
