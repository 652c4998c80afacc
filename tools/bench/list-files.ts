/**
 * listFiles over a store holding many objects (default 10 000, in 100
 * folders of 100): the first page (the default limit, 1000 entries) asked
 * again and again, timed as the client sees it; and a walk through every
 * page. The store is filled through the LocalStorage API before the server
 * starts; the server indexes it at start-up like any existing store.
 * Target: first page p50 <= 50 ms.
 *
 *   npm run build && node dist/tools/bench/list-files.js [--objects 10000] [--calls 100] [--json FILE]
 */
import path from 'node:path';
import { MIN_STORED_SIZE } from '../../src/crypto/index.js';
import { LocalStorage } from '../../src/storage/index.js';
import { Args } from './lib/cli-args.js';
import { removePath } from './lib/files.js';
import { Recorder } from './lib/report.js';
import { makeWorkDir, openSession } from './lib/session.js';
import { percentile } from './lib/stats.js';

const args = new Args();
const common = args.common(1);
const objects = Math.max(1, Math.floor(args.number('objects', 10_000)));
const calls = Math.max(5, Math.floor(args.number('calls', 100)));

const workDir = await makeWorkDir(common.workDir, 'cloudlocker-bench-list-');
const recorder = new Recorder(`listFiles over ${objects} stored objects`, workDir, { objects, calls });
const dataDir = path.join(workDir, 'server');

process.stderr.write(`storing ${objects} objects\n`);
const fillStart = performance.now();
await fillStore(path.join(dataDir, 'store'), objects);
recorder.figure(`time to store ${objects} objects through LocalStorage (setup)`, (performance.now() - fillStart) / 1000, ' s');

const startServer = performance.now();
const session = await openSession(workDir, { dataDir, nodeArgs: common.serverNodeArgs });
recorder.figure('server start-up with the store (indexing included)', (performance.now() - startServer) / 1000, ' s');

interface Page {
  files: unknown[];
  nextCursor: string | null;
}

try {
  for (let i = 0; i < 5; i++) await session.client.call('listFiles', {}); // warm-up
  const firstPage: number[] = [];
  for (let i = 0; i < calls; i++) {
    const start = performance.now();
    const page = await session.client.call<Page>('listFiles', {});
    firstPage.push(performance.now() - start);
    if (i === 0 && page.files.length !== Math.min(1000, objects)) throw new Error(`first page has ${page.files.length} entries`);
  }
  for (const value of firstPage) recorder.add('listFiles first page', 'ms', value);
  const walks: number[] = [];
  for (let i = 0; i < 5; i++) {
    const start = performance.now();
    let cursor: string | null = null;
    let seen = 0;
    do {
      const page: Page = await session.client.call<Page>('listFiles', cursor === null ? {} : { cursor });
      seen += page.files.length;
      cursor = page.nextCursor;
    } while (cursor !== null);
    walks.push(performance.now() - start);
    if (seen !== objects) throw new Error(`the walk saw ${seen} of ${objects} objects`);
  }
  for (const value of walks) recorder.add(`listFiles every page (${objects} entries)`, 'ms', value);
  recorder.check('listFiles first page p50', percentile(firstPage, 50), '<=', 50, ' ms');
  recorder.figure('listFiles first page p99', percentile(firstPage, 99), ' ms');
} finally {
  await session.close();
}
await recorder.finish(common.jsonFile);
await removePath(workDir);

/** Objects of the smallest valid stored size (an empty file), written 64 at a time. */
async function fillStore(directory: string, count: number): Promise<void> {
  const storage = new LocalStorage({ directory });
  await storage.init();
  const body = new Uint8Array(MIN_STORED_SIZE);
  const write = async (i: number) => {
    const name = `folder-${String(Math.floor(i / 100)).padStart(3, '0')}/file-${String(i).padStart(5, '0')}.bin`;
    const writer = await storage.beginWrite(name, { expectedSize: body.length });
    await writer.writePart(0, 0, body);
    await writer.complete({ overwrite: true });
  };
  for (let i = 0; i < count; i += 64) {
    await Promise.all(Array.from({ length: Math.min(64, count - i) }, (_, j) => write(i + j)));
  }
  await storage.close();
}
