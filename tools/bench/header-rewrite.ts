/**
 * What Storage.rewriteHeader costs (sharing rewrites only an encrypted
 * file's header) against writing the same object, on the local store or a
 * throwaway Ceph RGW (server-side copy), in the same run, alternating.
 * Storage level only: no encryption, no RPC (the sharing figures of issue 14
 * measure the whole method).
 *
 *   npm run build && node dist/tools/bench/header-rewrite.js [--store local|rgw] [--size 256MiB] [--rounds 3] [--json FILE] [--work-dir DIR]
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Args, formatSize } from './lib/cli-args.js';
import { removePath } from './lib/files.js';
import { run } from './lib/peers.js';
import { Recorder } from './lib/report.js';
import { makeWorkDir } from './lib/session.js';
import { median } from './lib/stats.js';
import { repoRoot } from './lib/server-process.js';
import { createStorage } from '../../src/storage/index.js';
import type { Storage } from '../../src/storage/storage.js';

const args = new Args();
const common = args.common(3);
const size = args.size('size', 256 * 1024 ** 2);
const rounds = common.rounds;
const storeKind = args.string('store', 'rgw');
if (storeKind !== 'local' && storeKind !== 'rgw') throw new Error('--store is local or rgw');
const PART = 16 * 1024 * 1024;
const BUCKET = 'cloudlocker-bench';

const workDir = await makeWorkDir(common.workDir, 'cloudlocker-bench-rewrite-');
const recorder = new Recorder(`Storage.rewriteHeader against writing the object (${storeKind})`, workDir, { store: storeKind, size, rounds });
const script = path.join(repoRoot(), 'tools', 'ceph-s3.sh');
const cephEnv = { ...process.env, CEPH_S3_MEMSTORE_BYTES: String(Math.max(2 * 1024 ** 3, size * 6)), CEPH_S3_GC_SECONDS: '5' };
let stopStore = async (): Promise<void> => {};
let storage: Storage;
if (storeKind === 'local') {
  storage = await createStorage({ kind: 'local', directory: path.join(workDir, 'store') });
} else {
  const cluster = path.join(workDir, 'rgw');
  const settings = Object.fromEntries(
    (await run('bash', [script, 'start', cluster], cephEnv))
      .trim()
      .split('\n')
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  ) as Record<string, string>;
  stopStore = async () => void (await run('bash', [script, 'stop', cluster, '--purge'], cephEnv));
  const credentials = { accessKeyId: settings['access_key']!, secretAccessKey: settings['secret_key']! };
  const { S3Client, CreateBucketCommand } = await import('@aws-sdk/client-s3');
  const admin = new S3Client({ endpoint: settings['endpoint']!, region: 'us-east-1', forcePathStyle: true, credentials });
  await admin.send(new CreateBucketCommand({ Bucket: BUCKET }));
  admin.destroy();
  storage = await createStorage({ kind: 's3', bucket: BUCKET, prefix: 'bench', endpoint: settings['endpoint']!, forcePathStyle: true, region: 'us-east-1', credentials });
}

try {
  await storage.init();
  const data = randomBytes(size);
  const writeTimes: number[] = [];
  const rewriteTimes: number[] = [];
  // What the calls did (not the store's capability): a 200 → 500 byte header is another length, so even the
  // local store copies (its in-place path takes same-length headers only; tools/bench/sharing.ts times that one).
  const methods = new Set<string>();
  for (let round = 0; round < rounds; round++) {
    const name = `rewrite-${round}.bin`;
    let started = performance.now();
    const writer = await storage.beginWrite(name, { expectedSize: size });
    for (let offset = 0, index = 0; offset < size; offset += PART, index++) {
      await writer.writePart(index, offset, data.subarray(offset, offset + PART));
    }
    const info = await writer.complete({ overwrite: true });
    writeTimes.push((performance.now() - started) / 1000);
    recorder.add('write', 's', writeTimes[round]!, size);
    started = performance.now();
    const rewritten = await storage.rewriteHeader(name, info.version!, 200, randomBytes(500));
    methods.add(rewritten.headerRewrite ?? storage.capabilities.headerRewrite);
    rewriteTimes.push((performance.now() - started) / 1000);
    recorder.add('rewriteHeader', 's', rewriteTimes[round]!, size);
    await storage.delete(name);
    console.log(
      `round ${round}: write ${writeTimes[round]!.toFixed(2)} s, rewriteHeader ${rewriteTimes[round]!.toFixed(2)} s ` +
        `(${((100 * rewriteTimes[round]!) / writeTimes[round]!).toFixed(1)} %), load ${os.loadavg()[0]!.toFixed(1)}`,
    );
  }
  const ratios = writeTimes.map((write, i) => rewriteTimes[i]! / write);
  console.log(
    `${storeKind} (${[...methods].join(', ')}), ${formatSize(size)}: write ${median(writeTimes).toFixed(2)} s, ` +
      `rewriteHeader ${median(rewriteTimes).toFixed(2)} s, median ratio ${(100 * median(ratios)).toFixed(1)} %`,
  );
  recorder.figure('rewriteHeader ÷ write, median of the rounds', median(ratios));
  recorder.note(`header rewrite: ${[...methods].join(', ')}`);
} finally {
  await storage.close();
  await stopStore();
  await removePath(workDir);
}
await recorder.finish(common.jsonFile);
