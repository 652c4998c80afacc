/**
 * The server's peak resident memory while it uploads and downloads files of
 * growing size: VmRSS of the server process sampled every 50 ms during each
 * transfer (and VmHWM, the kernel's high-water mark, since the server
 * started). A fresh server per size, so each size's high-water mark is its own.
 * Target: <= 150 MiB, flat in the file size.
 *
 *   npm run build && node dist/tools/bench/server-memory.js [--sizes 1GiB,4GiB] [--format age|age-pq|v1] [--json FILE] [--work-dir DIR]
 *
 * --format: the stored format, through the kind of key created (default age, X25519).
 *
 * Needs about 3x the largest size free on the work directory's disk (source,
 * stored object, downloaded copy); everything is deleted afterwards.
 */
import { statfs } from 'node:fs/promises';
import path from 'node:path';
import { Args, formatSize } from './lib/cli-args.js';
import { createRandomFile, removePath, sameContent } from './lib/files.js';
import { PageCache } from './lib/page-cache.js';
import { Recorder } from './lib/report.js';
import { readMemory, toMiB } from './lib/rss-sampler.js';
import { keyTypeFor, makeWorkDir, measure, openSession, parseFormats } from './lib/session.js';

const args = new Args();
const common = args.common(1);
const sizes = args.sizes('sizes', [1024 ** 3, 4 * 1024 ** 3]);
const formats = parseFormats(args.string('format', 'age'));
if (formats.length !== 1) throw new Error('server-memory measures one --format at a time');
const format = formats[0]!;

const workDir = await makeWorkDir(common.workDir, 'cloudlocker-bench-memory-');
const recorder = new Recorder('server memory during transfers (local store)', workDir, { sizes: sizes.map(formatSize).join(' '), rounds: common.rounds, format });
const cache = new PageCache(common.dropCache, [workDir]);
const largest = Math.max(...sizes);
const free = await statfs(workDir).then((s) => s.bavail * s.bsize);
if (free < 3 * largest + 1024 ** 3) {
  await removePath(workDir);
  throw new Error(`${formatSize(free)} free under ${workDir}; ${formatSize(3 * largest + 1024 ** 3)} needed: pass smaller --sizes or another --work-dir`);
}

try {
  for (const size of sizes) {
    const label = formatSize(size);
    const source = path.join(workDir, `source-${size}.bin`);
    const downloaded = path.join(workDir, `downloaded-${size}.bin`);
    process.stderr.write(`writing a ${label} random file\n`);
    await createRandomFile(source, size);
    const session = await openSession(path.join(workDir), { dataDir: path.join(workDir, `server-${size}`), keyType: keyTypeFor(format), nodeArgs: common.serverNodeArgs });
    try {
      recorder.add(`idle server RSS before ${label}`, 'MiB', toMiB(readMemory(session.server.pid)?.rssBytes ?? 0));
      for (let round = 0; round < common.rounds; round++) {
        cache.drop();
        const up = await measure(session.server, () => session.upload(source, `memory-${round}.bin`));
        recorder.add(`upload ${label}: server peak RSS`, 'MiB', toMiB(up.serverRss));
        recorder.add(`upload ${label}`, 's', up.seconds, size);
        cache.drop();
        const down = await measure(session.server, () => session.download(`memory-${round}.bin`, downloaded));
        recorder.add(`download ${label}: server peak RSS`, 'MiB', toMiB(down.serverRss));
        recorder.add(`download ${label}`, 's', down.seconds, size);
        if (round === 0 && !(await sameContent(source, downloaded))) throw new Error('the downloaded file differs from the source');
        await removePath(downloaded);
        await session.client.call('deleteFile', { name: `memory-${round}.bin` });
      }
      recorder.add(`VmHWM after ${label}`, 'MiB', toMiB(readMemory(session.server.pid)?.hwmBytes ?? 0));
    } finally {
      await session.close();
      await removePath(source);
      await removePath(path.join(workDir, `server-${size}`));
    }
    const peak = (name: string) => Math.max(...recorder.values(name));
    recorder.check(`server peak RSS, upload of ${label}`, peak(`upload ${label}: server peak RSS`), '<=', 150, ' MiB');
    recorder.check(`server peak RSS, download of ${label}`, peak(`download ${label}: server peak RSS`), '<=', 150, ' MiB');
  }
} finally {
  recorder.report.pageCache = cache.status;
}
await recorder.finish(common.jsonFile);
await removePath(workDir);
