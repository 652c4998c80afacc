/**
 * What copies cost inside an S3 store, without cloudlocker (the SDK alone):
 * a multipart upload of an object against, in the same round, each way of
 * copying that object inside the store:
 *
 * - `copy-object`: CopyObject of the whole object, unchanged (the store's
 *   cheapest copy; it cannot change a byte, so it cannot give an object a
 *   new header);
 * - `part-copy:<MiB>x<n>`: what a share does with `server-side-copy`
 *   (storage.md, "Rewriting a header"): a multipart upload whose first part
 *   (5 MiB) is uploaded and whose other parts are UploadPartCopy ranges of
 *   <MiB> MiB, <n> in flight (`part-copy:all` = the whole rest in one range).
 *
 * On Ceph RGW 16.2 this shows whether a share's cost is the store's: its
 * UploadPartCopy copies the bytes, its CopyObject shares them.
 *
 *   npm run build && flock /work/notes/bench.lock node dist/tools/bench/s3-copy-cost.js \
 *     [--size 1GiB] [--rounds 1] [--variants copy-object,part-copy:64x4,part-copy:16x8,part-copy:all] [--json FILE]
 *
 * The store is a throwaway Ceph RGW (tools/ceph-s3.sh) started for the run
 * (s3rver has no UploadPartCopy), memstore sized
 * for the object and one copy (~2.5x in RAM); copies are deleted at once and
 * the garbage collector is given a few seconds after each.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { Args } from './lib/cli-args.js';
import { startRgw, type BenchStore } from './lib/bench-stores.js';
import { removePath } from './lib/files.js';
import { Recorder } from './lib/report.js';
import { makeWorkDir } from './lib/session.js';
import { median } from './lib/stats.js';

const BUCKET = 'cloudlocker-bench';
const MiB = 1024 * 1024;
const UPLOAD_PART = 16 * MiB;
const FIRST_PART = 5 * MiB;
const GC_PAUSE_MS = 7000;

const args = new Args();
const common = args.common(1);
const size = args.size('size', 1024 ** 3);
const variants = args.string('variants', 'copy-object,part-copy:64x4,part-copy:16x8,part-copy:all').split(',');
for (const variant of variants) parseVariant(variant);
if (size <= FIRST_PART) throw new Error('--size must be above 5 MiB');

const workDir = await makeWorkDir(common.workDir, 'cloudlocker-bench-s3-copy-');
const recorder = new Recorder('copies inside the store (Ceph RGW), SDK only', workDir, { size, rounds: common.rounds, variants: variants.join(',') });
const store: BenchStore = await startRgw(path.join(workDir, 'rgw'), BUCKET, Math.max(4 * 1024 ** 3, size * 6));
const client = new S3Client({
  endpoint: store.endpoint,
  region: 'us-east-1',
  forcePathStyle: true,
  credentials: { accessKeyId: store.credentials.AWS_ACCESS_KEY_ID, secretAccessKey: store.credentials.AWS_SECRET_ACCESS_KEY },
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
});
const partData = randomBytes(UPLOAD_PART);
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

try {
  for (let round = 0; round < common.rounds; round++) {
    const started = performance.now();
    await upload('source');
    const uploadSeconds = (performance.now() - started) / 1000;
    recorder.add('multipart upload (16 MiB parts, 4 at a time)', 's', uploadSeconds, size);
    for (const variant of variants) {
      const began = performance.now();
      await copy(variant, 'source', 'copy');
      const seconds = (performance.now() - began) / 1000;
      const head = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'copy' }));
      if (head.ContentLength !== size) throw new Error(`${variant}: the copy has ${head.ContentLength} bytes, not ${size}`);
      recorder.add(variant, 's', seconds, size);
      recorder.add(`${variant} ÷ upload`, '%', (100 * seconds) / uploadSeconds);
      await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'copy' }));
      await pause(GC_PAUSE_MS);
    }
    await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'source' }));
    await pause(GC_PAUSE_MS);
  }
  for (const variant of variants) recorder.figure(`${variant} ÷ upload, median`, median(recorder.values(`${variant} ÷ upload`)), ' %');
  recorder.note('Each copy is of the same stored object, right after its upload in the same round; the copy is deleted before the next.');
} finally {
  client.destroy();
  await store.stop();
  await removePath(workDir);
}
await recorder.finish(common.jsonFile);

type Variant = { kind: 'copy-object' } | { kind: 'part-copy'; partBytes: number; inFlight: number };

function parseVariant(text: string): Variant {
  if (text === 'copy-object') return { kind: 'copy-object' };
  if (text === 'part-copy:all') return { kind: 'part-copy', partBytes: Number.MAX_SAFE_INTEGER, inFlight: 1 };
  const match = /^part-copy:(\d+)x(\d+)$/.exec(text);
  if (match === null) throw new Error(`--variants: copy-object, part-copy:all or part-copy:<MiB>x<in flight>, not ${text}`);
  return { kind: 'part-copy', partBytes: Number(match[1]) * MiB, inFlight: Math.max(1, Number(match[2])) };
}

async function upload(key: string): Promise<void> {
  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key }));
  const count = Math.ceil(size / UPLOAD_PART);
  const parts: CompletedPart[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const index = next++;
      const length = Math.min(UPLOAD_PART, size - index * UPLOAD_PART);
      const result = await client.send(
        new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId, PartNumber: index + 1, Body: partData.subarray(0, length), ContentLength: length }),
      );
      parts[index] = { PartNumber: index + 1, ETag: result.ETag };
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  await client.send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId, MultipartUpload: { Parts: parts } }));
}

async function copy(text: string, source: string, target: string): Promise<void> {
  const variant = parseVariant(text);
  if (variant.kind === 'copy-object') {
    await client.send(new CopyObjectCommand({ Bucket: BUCKET, Key: target, CopySource: `${BUCKET}/${source}` }));
    return;
  }
  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: target }));
  const first = await client.send(
    new UploadPartCommand({ Bucket: BUCKET, Key: target, UploadId, PartNumber: 1, Body: partData.subarray(0, FIRST_PART), ContentLength: FIRST_PART }),
  );
  const parts: CompletedPart[] = [{ PartNumber: 1, ETag: first.ETag }];
  const ranges: [number, number][] = [];
  for (let start = FIRST_PART; start < size; start += variant.partBytes) ranges.push([start, Math.min(size, start + variant.partBytes) - 1]);
  let next = 0;
  const worker = async () => {
    while (next < ranges.length) {
      const index = next++;
      const [start, end] = ranges[index] as [number, number];
      const result = await client.send(
        new UploadPartCopyCommand({ Bucket: BUCKET, Key: target, UploadId, PartNumber: index + 2, CopySource: `${BUCKET}/${source}`, CopySourceRange: `bytes=${start}-${end}` }),
      );
      parts[index + 1] = { PartNumber: index + 2, ETag: result.CopyPartResult?.ETag };
    }
  };
  await Promise.all(Array.from({ length: variant.inFlight }, worker));
  await client.send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: target, UploadId, MultipartUpload: { Parts: parts } }));
}
