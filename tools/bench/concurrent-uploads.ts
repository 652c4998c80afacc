/**
 * Many uploads at once against the same work done one at a time: N files of
 * S bytes (default 32 of 32 MiB) uploaded all at once (N requests in flight
 * on one connection; the server runs maxConcurrentTransfers of them and
 * queues the rest), and the same files uploaded one after another. Rounds
 * alternate the order; aggregate throughput is total bytes / wall time.
 * Target: concurrent aggregate >= 0.8x the single stream.
 *
 *   npm run build && node dist/tools/bench/concurrent-uploads.js [--count 32] [--size 32MiB] [--rounds 3] [--json FILE]
 */
import path from 'node:path';
import { Args, formatSize } from './lib/cli-args.js';
import { createRandomFile, removePath } from './lib/files.js';
import { waitForQuiet } from './lib/machine.js';
import { PageCache } from './lib/page-cache.js';
import { Recorder } from './lib/report.js';
import { toMiB } from './lib/rss-sampler.js';
import { makeWorkDir, measure, openSession, type Session } from './lib/session.js';
import { medianPairRatio, mibPerSecond } from './lib/stats.js';

const args = new Args();
const common = args.common(3);
const count = Math.max(1, Math.floor(args.number('count', 32)));
const size = args.size('size', 32 * 1024 ** 2);
const total = count * size;

const workDir = await makeWorkDir(common.workDir, 'cloudlocker-bench-concurrent-');
const recorder = new Recorder(`${count} concurrent uploads vs one at a time`, workDir, { count, size, rounds: common.rounds });
const cache = new PageCache(common.dropCache, [workDir]);
const sources = Array.from({ length: count }, (_, i) => path.join(workDir, `source-${i}.bin`));
for (const source of sources) await createRandomFile(source, size);
const session = await openSession(workDir, { nodeArgs: common.serverNodeArgs });

async function deleteAll(session: Session, round: number): Promise<void> {
  for (let i = 0; i < count; i++) await session.client.call('deleteFile', { name: `r${round}-${i}.bin` });
}

const runs: Record<'concurrent' | 'sequential', (round: number) => Promise<unknown>> = {
  concurrent: (round: number) => Promise.all(sources.map((source, i) => session.upload(source, `r${round}-${i}.bin`))),
  sequential: async (round: number) => {
    for (const [i, source] of sources.entries()) await session.upload(source, `r${round}-${i}.bin`);
  },
};

const labels = { concurrent: `${count} concurrent`, sequential: 'one at a time' } as const;

try {
  for (let round = 0; round < common.rounds; round++) {
    const order = round % 2 === 0 ? (['sequential', 'concurrent'] as const) : (['concurrent', 'sequential'] as const);
    for (const mode of order) {
      cache.drop();
      if (common.quiet) {
        const busy = await waitForQuiet();
        if (busy !== undefined) recorder.add('CPU busy before the run (others)', 'fraction', Math.round(busy * 100) / 100);
      }
      const m = await measure(session.server, () => runs[mode](round));
      const label = labels[mode];
      recorder.add(label, 's', m.seconds, total);
      recorder.add(`${label}: MiB/s aggregate`, 'MiB/s', mibPerSecond(total, m.seconds));
      recorder.add(`${label}: server peak RSS`, 'MiB', toMiB(m.serverRss));
      process.stderr.write(`  round ${round + 1}: ${mode} ${m.seconds.toFixed(3)} s\n`);
      await deleteAll(session, round);
    }
  }
} finally {
  await session.close();
}
recorder.report.pageCache = cache.status;
recorder.check(
  `aggregate of ${count} concurrent ÷ one stream`,
  medianPairRatio(recorder.values(`${labels.concurrent}: MiB/s aggregate`), recorder.values(`${labels.sequential}: MiB/s aggregate`)),
  '>=',
  0.8,
  'x',
);
recorder.note(`${count} files of ${formatSize(size)}; "one at a time" uploads the same files sequentially on the same connection`);
await recorder.finish(common.jsonFile);
await removePath(workDir);
