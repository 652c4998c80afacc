/**
 * What a UI watching progress costs a transfer: the same upload and download
 * with a second connection open that receives (and parses) every
 * transferProgress / transferFinished notification, and without it. The
 * connection that sends the request gets the notifications too in both cases
 * (the server broadcasts them to every connection); the difference measured
 * is one more listener. Rounds alternate which goes first.
 * Target: with a UI >= 0.98x the throughput without.
 *
 *   npm run build && node dist/tools/bench/progress-overhead.js [--size 1GiB] [--rounds 5]
 *     [--progress-interval-ms 100] [--json FILE] [--keep-server]
 */
import path from 'node:path';
import { Args, formatSize } from './lib/cli-args.js';
import { createRandomFile, removePath } from './lib/files.js';
import { waitForQuiet } from './lib/machine.js';
import { PageCache } from './lib/page-cache.js';
import { Recorder } from './lib/report.js';
import { BenchRpcClient } from './lib/rpc-client.js';
import { makeWorkDir, measure, ServerRunner, type Session } from './lib/session.js';
import { medianPairRatio } from './lib/stats.js';

const args = new Args();
const common = args.common(5);
const size = args.size('size', 1024 ** 3);
const progressIntervalMs = args.number('progress-interval-ms', 100);

const workDir = await makeWorkDir(common.workDir, 'cloudlocker-bench-progress-');
const recorder = new Recorder('throughput with a UI receiving progress vs none', workDir, { size, rounds: common.rounds, progressIntervalMs });
const cache = new PageCache(common.dropCache, [workDir]);
const source = path.join(workDir, 'source.bin');
await createRandomFile(source, size);
// A new server for each upload-and-download pair (--keep-server: one for all),
// so that a server's state after many GiB does not weigh on one side.
const servers = new ServerRunner(
  workDir,
  { dataDir: path.join(workDir, 'server'), nodeArgs: common.serverNodeArgs, serveArgs: ['--progress-interval-ms', String(progressIntervalMs)] },
  !args.flag('keep-server'),
);

/** Waits for a quiet machine (unless --no-quiet) and records how busy it was. */
async function quietMoment(): Promise<void> {
  if (!common.quiet) return;
  const busy = await waitForQuiet();
  if (busy !== undefined) recorder.add('CPU busy before the run (others)', 'fraction', Math.round(busy * 100) / 100);
}

async function once(session: Session, withUi: boolean, round: number): Promise<void> {
  const label = withUi ? 'with UI' : 'no UI';
  let ui: BenchRpcClient | undefined;
  let progressSeen = 0;
  if (withUi) {
    ui = await BenchRpcClient.connect(session.server);
    ui.onNotification = (method) => {
      if (method === 'transferProgress') progressSeen += 1;
    };
  }
  try {
    const name = `progress-${round}-${withUi ? 'ui' : 'none'}.bin`;
    cache.drop();
    await quietMoment();
    const up = await measure(session.server, () => session.upload(source, name));
    recorder.add(`upload, ${label}`, 's', up.seconds, size);
    const destination = path.join(workDir, `${name}.out`);
    cache.drop();
    await quietMoment();
    const down = await measure(session.server, () => session.download(name, destination));
    recorder.add(`download, ${label}`, 's', down.seconds, size);
    if (withUi) recorder.add('progress notifications the UI received (upload + download)', 'count', progressSeen);
    process.stderr.write(`  round ${round + 1} ${label}: upload ${up.seconds.toFixed(3)} s, download ${down.seconds.toFixed(3)} s\n`);
    await removePath(destination);
    await session.client.call('deleteFile', { name });
  } finally {
    await ui?.close();
  }
}

try {
  for (let round = 0; round < common.rounds; round++) {
    const order = round % 2 === 0 ? [false, true] : [true, false];
    for (const withUi of order) await servers.use((session) => once(session, withUi, round));
  }
} finally {
  await servers.close();
}
recorder.report.pageCache = cache.status;
// Throughput ratio = inverse time ratio.
const ratio = (direction: string) =>
  medianPairRatio(recorder.values(`${direction}, no UI`), recorder.values(`${direction}, with UI`));
recorder.check('upload throughput with a UI ÷ without', ratio('upload'), '>=', 0.98, 'x');
recorder.check('download throughput with a UI ÷ without', ratio('download'), '>=', 0.98, 'x');
recorder.note(`files of ${formatSize(size)}; progress every ${progressIntervalMs} ms at most per transfer`);
await recorder.finish(common.jsonFile);
await removePath(workDir);
