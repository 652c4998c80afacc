/**
 * Issue 14's share cost: shareFile of a large file against upload of the
 * same file, through the service (its own process, local store, RPC timed as
 * the client sees it), in the same run, alternating: each round uploads the
 * file under a new name, then shares it with one new recipient. Reports
 * each share's headerRewrite ("in-place" when the header slot absorbed the
 * new stanza) and the load average around each round.
 *
 *   npm run build && flock /work/notes/bench.lock node dist/tools/bench/share.js [--size 1GiB] [--rounds 3] [--work-dir DIR (a directory of its own is made inside)]
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Args, formatSize } from './lib/cli-args.js';
import { createRandomFile } from './lib/files.js';
import { BenchRpcClient } from './lib/rpc-client.js';
import { startServerProcess } from './lib/server-process.js';

const args = new Args();
const size = args.size('size', 1024 ** 3);
const rounds = Number(args.string('rounds', '3'));
const base = path.resolve(args.string('work-dir', os.tmpdir()));
await mkdir(base, { recursive: true });
// Its own directory under --work-dir: removed at the end, and nothing else.
const workDir = await mkdtemp(path.join(base, 'cloudlocker-bench-share-'));
const dataDir = path.join(workDir, 'data');
await mkdir(dataDir, { recursive: true });
const source = path.join(workDir, 'source.bin');
await createRandomFile(source, size);
const server = await startServerProcess({ dataDir });
const client = await BenchRpcClient.connect(server);
const load = () => os.loadavg().map((n) => n.toFixed(1)).join(' ');
try {
  const me = await client.call<{ path: string }>('createKey', { path: path.join(workDir, 'me.key.txt') });
  console.log(`share vs upload, ${formatSize(size)}, local store, ${rounds} rounds (load average at start: ${load()})`);
  const ratios: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const name = `bench/share-${round}.bin`;
    const friend = await client.call<{ recipient: string }>('createKey', { path: path.join(workDir, `friend-${round}.key.txt`) });
    const loadBefore = load();
    let started = performance.now();
    await client.call('upload', { path: source, keyPath: me.path, name, overwrite: true });
    const uploadMs = performance.now() - started;
    started = performance.now();
    const shared = await client.call<{ headerRewrite: string; storedSize: number }>('shareFile', { name, with: [friend.recipient], keyPath: me.path });
    const shareMs = performance.now() - started;
    ratios.push(shareMs / uploadMs);
    console.log(
      `round ${round + 1}: upload ${(uploadMs / 1000).toFixed(2)} s, share ${shareMs.toFixed(1)} ms (${shared.headerRewrite}), ` +
        `share/upload ${((100 * shareMs) / uploadMs).toFixed(3)} %, load ${loadBefore} -> ${load()}`,
    );
    await client.call('deleteFile', { name });
  }
  const sorted = [...ratios].sort((a, b) => a - b);
  console.log(`median share/upload: ${(100 * sorted[Math.floor(sorted.length / 2)]).toFixed(3)} % (target <= 2 %)`);
} finally {
  await client.close();
  await server.stop();
  await rm(workDir, { recursive: true, force: true });
}
