/**
 * The transfer engine in this process (no server, no RPC), upload and
 * download through a LocalStorage, for a grid of part sizes (chunks per part)
 * and part-queue concurrencies: how the defaults were chosen. Each round runs
 * every setting once, forwards in even rounds and backwards in odd ones;
 * medians of wall time and of this process's CPU time (steadier on a busy
 * machine). Also the process's peak RSS per setting.
 *
 *   npm run build && node dist/tools/bench/engine-tuning.js [--size 512MiB] [--rounds 3]
 *     [--chunks-per-part 16,32,64] [--part-concurrency 2,4] [--json FILE]
 */
import path from 'node:path';
import { generateMasterKey, masterKeyCredentials, v1Encryption } from '../../src/crypto/index.js';
import { LocalStorage } from '../../src/storage/index.js';
import { inspectSource } from '../../src/transfer/local-files.js';
import { TransferEngine } from '../../src/transfer/transfer-engine.js';
import { TransferRegistry } from '../../src/transfer/transfer-registry.js';
import { Args } from './lib/cli-args.js';
import { mainThreadCpuSeconds } from './lib/cpu-time.js';
import { createRandomFile, removePath, sameContent } from './lib/files.js';
import { PageCache } from './lib/page-cache.js';
import { Recorder } from './lib/report.js';
import { readMemory, toMiB } from './lib/rss-sampler.js';
import { makeWorkDir } from './lib/session.js';

const args = new Args();
const common = args.common(3);
const size = args.size('size', 512 * 1024 ** 2);
const chunkCounts = (args.string('chunks-per-part') ?? '16,32,64').split(',').map(Number);
const concurrencies = (args.string('part-concurrency') ?? '2,4').split(',').map(Number);

const workDir = await makeWorkDir(common.workDir, 'cloudlocker-bench-engine-');
const recorder = new Recorder('transfer engine in-process: part size x part concurrency', workDir, {
  size,
  rounds: common.rounds,
  chunksPerPart: chunkCounts.join(' '),
  partConcurrency: concurrencies.join(' '),
});
const cache = new PageCache(common.dropCache, [workDir]);
const sourcePath = path.join(workDir, 'source.bin');
await createRandomFile(sourcePath, size);
const storage = new LocalStorage({ directory: path.join(workDir, 'store') });
await storage.init();
const key = generateMasterKey();

const settings = chunkCounts.flatMap((chunksPerPart) => concurrencies.map((partConcurrency) => ({ chunksPerPart, partConcurrency })));
const label = (s: { chunksPerPart: number; partConcurrency: number }) =>
  `${s.chunksPerPart} chunks (${s.chunksPerPart / 16} MiB) x ${s.partConcurrency}`;

async function timed(action: () => Promise<unknown>): Promise<{ wall: number; cpu: number; main: number; rss: number }> {
  const mainBefore = mainThreadCpuSeconds() ?? Number.NaN;
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, readMemory(process.pid)?.rssBytes ?? 0)), 50);
  const cpu = process.cpuUsage();
  const start = performance.now();
  await action();
  const wall = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  clearInterval(sampler);
  peak = Math.max(peak, readMemory(process.pid)?.rssBytes ?? 0);
  return { wall, cpu: (used.user + used.system) / 1e6, main: (mainThreadCpuSeconds() ?? Number.NaN) - mainBefore, rss: peak };
}

try {
  for (let round = 0; round < common.rounds; round++) {
    const order = round % 2 === 0 ? settings : [...settings].reverse();
    for (const setting of order) {
      const engine = new TransferEngine({ storage, registry: new TransferRegistry(), ...setting });
      const name = `engine-${round}.bin`;
      const source = await inspectSource(sourcePath);
      cache.drop();
      const up = await timed(() =>
        engine.upload({ source, name, overwrite: true, encryption: v1Encryption(key), keyPath: 'unused', keyCreated: false }),
      );
      const destination = path.join(workDir, `down-${round}.bin`);
      cache.drop();
      const down = await timed(() => engine.download({ name, destination, overwrite: true, credentials: masterKeyCredentials(key) }));
      if (round === 0 && !(await sameContent(sourcePath, destination))) throw new Error(`${label(setting)}: round trip differs`);
      await removePath(destination);
      await storage.delete(name);
      await engine.close();
      recorder.add(`upload ${label(setting)}`, 's', up.wall, size);
      recorder.add(`upload ${label(setting)} (CPU seconds)`, 's CPU', up.cpu);
      recorder.add(`upload ${label(setting)} (main-thread CPU seconds)`, 's CPU', up.main);
      recorder.add(`download ${label(setting)}`, 's', down.wall, size);
      recorder.add(`download ${label(setting)} (main-thread CPU seconds)`, 's CPU', down.main);
      recorder.add(`download ${label(setting)} (CPU seconds)`, 's CPU', down.cpu);
      recorder.add(`peak RSS ${label(setting)}`, 'MiB', toMiB(Math.max(up.rss, down.rss)));
      process.stderr.write(`  round ${round + 1} ${label(setting)}: up ${up.wall.toFixed(3)} s, down ${down.wall.toFixed(3)} s\n`);
    }
  }
} finally {
  await storage.close();
}
recorder.report.pageCache = cache.status;
recorder.note('in-process: the RSS includes this script (about 50 MiB idle), not a server');
await recorder.finish(common.jsonFile);
await removePath(workDir);
