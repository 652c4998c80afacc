/**
 * S3-specific behaviour of the S3 backend, against s3rver on loopback (and,
 * where s3rver lacks the API, a small stub speaking S3's XML).
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CloudlockerError, InvalidParamsError } from '../../../src/errors.js';
import { compareUtf8 } from '../../../src/storage/names.js';
import { STREAM_PART_SIZE } from '../../../src/storage/s3/header-rewrite.js';
import { createS3Storage, MIN_PART_SIZE, S3ConfigError } from '../../../src/storage/s3/index.js';
import { S3ObjectWriter } from '../../../src/storage/s3/object-writer.js';
import type { ObjectWriter, Storage } from '../../../src/storage/storage.js';
import {
  createTestS3Storage,
  S3RVER_CREDENTIALS,
  startS3rver,
  TEST_BUCKET,
  type RunningS3rver,
} from '../../helpers/s3rver.js';

let server: RunningS3rver;
const storages: Storage[] = [];

beforeAll(async () => {
  server = await startS3rver();
});
afterAll(async () => {
  await Promise.all(storages.map((storage) => storage.close()));
  await server.stop();
});

/** A storage under its own prefix, so tests do not see each other's objects. */
function storageUnder(prefix: string, options: Parameters<typeof createTestS3Storage>[1] = {}): Storage {
  const storage = createTestS3Storage(server.endpoint, { prefix, ...options });
  storages.push(storage);
  return storage;
}

function rawClient(endpoint = server.endpoint): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: S3RVER_CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

async function rawGet(key: string): Promise<Buffer> {
  const client = rawClient();
  try {
    const result = await client.send(new GetObjectCommand({ Bucket: TEST_BUCKET, Key: key }));
    return Buffer.from(await result.Body!.transformToByteArray());
  } finally {
    client.destroy();
  }
}

async function rawMetadata(key: string): Promise<Record<string, string>> {
  const client = rawClient();
  try {
    return (await client.send(new HeadObjectCommand({ Bucket: TEST_BUCKET, Key: key }))).Metadata ?? {};
  } finally {
    client.destroy();
  }
}

/** Write `data` cut into parts of `partSize`, in the given part order, the writes concurrent. */
async function writeInParts(writer: ObjectWriter, data: Buffer, partSize: number, order?: number[]): Promise<void> {
  const count = Math.max(1, Math.ceil(data.length / partSize));
  const indexes = order ?? [...Array(count).keys()];
  await Promise.all(
    indexes.map((index) => writer.writePart(index, index * partSize, data.subarray(index * partSize, (index + 1) * partSize))),
  );
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

async function expectReason(promise: Promise<unknown>, reason: CloudlockerError['reason']): Promise<CloudlockerError> {
  const err = await rejection(promise);
  expect(err).toBeInstanceOf(CloudlockerError);
  expect((err as CloudlockerError).reason).toBe(reason);
  return err as CloudlockerError;
}

describe('configuration', () => {
  it('reports s3://bucket/prefix and the endpoint origin as location, never credentials', () => {
    const storage = createS3Storage({
      kind: 's3',
      bucket: 'my-bucket',
      prefix: '/backups/laptop',
      endpoint: 'https://user:hunter2@minio.example.com:9000/?token=abc',
      credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'top-secret' },
    });
    expect(storage.kind).toBe('s3');
    expect(storage.location).toBe('s3://my-bucket/backups/laptop/ (endpoint https://minio.example.com:9000)');
    expect(storage.capabilities).toEqual({ abortCleansUp: true, atomicNoOverwrite: true, headerRewrite: 'streamed' });
  });

  it('finds s3rver gaps by probing at init(), and a declared gap removes a capability without probing', async () => {
    const probed = storageUnder('caps');
    await probed.init();
    expect(probed.capabilities).toEqual({ abortCleansUp: false, atomicNoOverwrite: false, headerRewrite: 'streamed' });
    const declared = storageUnder('caps-declared', { serverGaps: { noConditionalWrites: true, noAbortMultipartUpload: true } });
    expect(declared.capabilities).toEqual({ abortCleansUp: false, atomicNoOverwrite: false, headerRewrite: 'streamed' });
  });

  it('rejects configurations that cannot work', () => {
    expect(() => createS3Storage({ kind: 's3', bucket: '' })).toThrow(S3ConfigError);
    expect(() => createS3Storage({ kind: 's3', bucket: 'b', endpoint: 'ftp://x' })).toThrow(S3ConfigError);
    expect(() => createS3Storage({ kind: 's3', bucket: 'b', prefix: 'a//b' })).toThrow(S3ConfigError);
    expect(() => createS3Storage({ kind: 's3', bucket: 'b', maxAttempts: 0 })).toThrow(S3ConfigError);
  });
});

describe('writes', () => {
  it('stores a small object with one PutObject, a large one as a multipart upload', async () => {
    const storage = storageUnder('paths');
    const small = randomBytes(1000);
    const smallWriter = await storage.beginWrite('small', { expectedSize: small.length });
    await smallWriter.writePart(0, 0, small);
    await smallWriter.complete({ overwrite: false });

    // Unknown size, but part 0 shorter than minPartSize is the whole object.
    const unsized = randomBytes(2000);
    const unsizedWriter = await storage.beginWrite('unsized');
    await unsizedWriter.writePart(0, 0, unsized);
    await unsizedWriter.complete({ overwrite: false });

    const large = randomBytes(MIN_PART_SIZE * 2 + 12345);
    const largeWriter = await storage.beginWrite('large', { expectedSize: large.length });
    // Parts out of order and concurrent.
    await writeInParts(largeWriter, large, MIN_PART_SIZE, [2, 0, 1]);
    const info = await largeWriter.complete({ overwrite: false });
    expect(info).toMatchObject({ name: 'large', storedSize: large.length });

    // Multipart uploads carry cloudlocker's marker (random, one per upload), single PUTs do not.
    expect(await rawMetadata('paths/small')).toEqual({});
    expect(await rawMetadata('paths/unsized')).toEqual({});
    expect(await rawMetadata('paths/large')).toEqual({ 'cloudlocker-upload': expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect((await rawGet('paths/large')).equals(large)).toBe(true);
  });

  it('keeps the caller\'s buffer out of a buffered write (it may be reused)', async () => {
    const storage = storageUnder('reuse');
    const data = Buffer.from('original bytes');
    const writer = await storage.beginWrite('obj', { expectedSize: data.length });
    await writer.writePart(0, 0, data);
    data.fill(0);
    await writer.complete({ overwrite: false });
    expect((await rawGet('reuse/obj')).toString()).toBe('original bytes');
  });

  it('keeps an object invisible until complete() and for ever after abort()', async () => {
    const storage = storageUnder('invisible');
    const data = randomBytes(MIN_PART_SIZE + 10);
    const writer = await storage.beginWrite('obj', { expectedSize: data.length });
    await writeInParts(writer, data, MIN_PART_SIZE);
    await expectReason(storage.stat('obj'), 'NOT_FOUND');
    expect((await storage.list({ limit: 10 })).objects).toEqual([]);
    await writer.abort();
    await writer.abort(); // twice is fine
    await expectReason(storage.stat('obj'), 'NOT_FOUND');
    await expectReason(writer.writePart(1, MIN_PART_SIZE, data.subarray(MIN_PART_SIZE)), 'CANCELLED');
  });

  it('refuses to overwrite with overwrite: false, and aborts the write', async () => {
    const storage = storageUnder('no-overwrite');
    const first = Buffer.from('first');
    const writer = await storage.beginWrite('obj');
    await writer.writePart(0, 0, first);
    await writer.complete({ overwrite: false });

    const big = randomBytes(MIN_PART_SIZE + 1);
    const second = await storage.beginWrite('obj', { expectedSize: big.length });
    await writeInParts(second, big, MIN_PART_SIZE);
    await expectReason(second.complete({ overwrite: false }), 'ALREADY_EXISTS');
    expect((await rawGet('no-overwrite/obj')).toString()).toBe('first');

    const third = await storage.beginWrite('obj');
    await third.writePart(0, 0, Buffer.from('third'));
    await third.complete({ overwrite: true });
    expect((await rawGet('no-overwrite/obj')).toString()).toBe('third');
  });

  it('rejects part indexes beyond S3\'s 10,000 parts', async () => {
    const storage = storageUnder('limits');
    const writer = await storage.beginWrite('obj');
    await expect(writer.writePart(10_000, 0, Buffer.alloc(1))).rejects.toThrow(RangeError);
    await writer.abort();
  });
});

describe('header rewrite, streamed (s3rver has no UploadPartCopy)', () => {
  it('a streamed rewrite passes its parts through at most 3 part buffers (reused), not one per part, and is byte-exact', async () => {
    const storage = storageUnder('streamed-buffers');
    await storage.init();
    expect(storage.capabilities.headerRewrite).toBe('streamed');
    const header = randomBytes(700);
    const payload = randomBytes(5 * STREAM_PART_SIZE + 12345);
    const writer = await storage.beginWrite('big', { expectedSize: header.length + payload.length });
    await writeInParts(writer, Buffer.concat([header, payload]), STREAM_PART_SIZE);
    const info = await writer.complete({ overwrite: false });

    // Every buffer the rewrite hands to writePart, by the ArrayBuffer under it.
    const buffers = new Set<ArrayBufferLike>();
    let parts = 0;
    const writePart = S3ObjectWriter.prototype.writePart;
    S3ObjectWriter.prototype.writePart = function (this: S3ObjectWriter, partIndex: number, offset: number, data: Uint8Array) {
      buffers.add(data.buffer);
      parts++;
      return writePart.call(this, partIndex, offset, data);
    };
    const newHeader = randomBytes(900);
    try {
      await storage.rewriteHeader('big', info.version!, header.length, newHeader);
    } finally {
      S3ObjectWriter.prototype.writePart = writePart;
    }
    expect(parts).toBe(Math.ceil((newHeader.length + payload.length) / STREAM_PART_SIZE));
    // STREAM_CONCURRENCY (3) buffers at most, whatever the object's size: memory is bounded by the concurrency.
    expect(buffers.size).toBeLessThanOrEqual(3);
    expect((await rawGet('streamed-buffers/big')).equals(Buffer.concat([newHeader, payload]))).toBe(true);
  }, 60_000);
});

describe('overwrite: false on a server that enforces If-None-Match (S3 stub)', () => {
  // Another writer publishes between our HeadObject check and our write: only
  // the conditional write catches that.
  it.each([
    ['a single PutObject', 100],
    ['a multipart upload', MIN_PART_SIZE + 1],
  ])('losing the race with %s is ALREADY_EXISTS (a multipart upload is aborted)', async (_label, size) => {
    const stub = await startConditionalStub({ headAfterRefusal: { size: 5, etag: '"someone-else"' } });
    const storage = createS3Storage({
      kind: 's3',
      bucket: TEST_BUCKET,
      endpoint: stub.endpoint,
      forcePathStyle: true,
      credentials: S3RVER_CREDENTIALS,
      maxAttempts: 1,
    });
    try {
      expect(storage.capabilities.atomicNoOverwrite).toBe(true);
      const writer = await storage.beginWrite('obj', { expectedSize: size });
      await writeInParts(writer, randomBytes(size), MIN_PART_SIZE);
      await expectReason(writer.complete({ overwrite: false }), 'ALREADY_EXISTS');
      expect(stub.conditionalRequests).toEqual([size > MIN_PART_SIZE ? 'POST' : 'PUT']);
      expect(stub.abortedUploads).toBe(size > MIN_PART_SIZE ? 1 : 0);
    } finally {
      await storage.close();
      await stub.stop();
    }
  });

  it('a retried PutObject whose first attempt landed is recognised as ours', async () => {
    const body = Buffer.from('exactly these bytes');
    const etag = `"${createHash('md5').update(body).digest('hex')}"`;
    const stub = await startConditionalStub({ headAfterRefusal: { size: body.length, etag } });
    const storage = createS3Storage({
      kind: 's3',
      bucket: TEST_BUCKET,
      endpoint: stub.endpoint,
      forcePathStyle: true,
      credentials: S3RVER_CREDENTIALS,
      maxAttempts: 1,
    });
    try {
      const writer = await storage.beginWrite('obj', { expectedSize: body.length });
      await writer.writePart(0, 0, body);
      expect((await writer.complete({ overwrite: false })).storedSize).toBe(body.length);
    } finally {
      await storage.close();
      await stub.stop();
    }
  });
});

describe('checksums (s3rver stores aws-chunked bodies verbatim)', () => {
  it('reads back exactly the bytes written, single-PUT and multipart', async () => {
    const storage = storageUnder('bytes');
    const cases: Array<[string, Buffer]> = [
      ['empty', Buffer.alloc(0)],
      ['one-byte', Buffer.from([0x42])],
      ['small', randomBytes(65_536 + 7)],
      ['multipart', randomBytes(MIN_PART_SIZE * 2 + 3)],
    ];
    for (const [name, data] of cases) {
      const writer = await storage.beginWrite(name, { expectedSize: data.length });
      if (data.length > 0) await writeInParts(writer, data, MIN_PART_SIZE);
      expect((await writer.complete({ overwrite: false })).storedSize).toBe(data.length);
      // What the server holds, read without the backend...
      expect((await rawGet(`bytes/${name}`)).equals(data)).toBe(true);
      // ...and through it, whole and across the part boundary.
      expect(Buffer.from(await storage.readRange(name, 0, data.length + 10)).equals(data)).toBe(true);
    }
    const multipart = cases[3]![1];
    const across = await storage.readRange('multipart', MIN_PART_SIZE - 5, 10);
    expect(Buffer.from(across).equals(multipart.subarray(MIN_PART_SIZE - 5, MIN_PART_SIZE + 5))).toBe(true);
  });
});

describe('part integrity on the way (S3 stub)', () => {
  it('sends each part with its SHA-256 in x-amz-content-sha256, which the signature covers', async () => {
    const parts: Array<{ header: string | undefined; signedHeaders: string; bodySha256: string }> = [];
    const xml = (body: string) => `<?xml version="1.0" encoding="UTF-8"?>${body}`;
    const stub = await startStub((request, response, url) => {
      if (request.method === 'HEAD') {
        response.writeHead(404);
        response.end();
      } else if (request.method === 'POST' && url.searchParams.has('uploads')) {
        response.writeHead(200, { 'content-type': 'application/xml' });
        response.end(xml('<InitiateMultipartUploadResult><UploadId>u1</UploadId></InitiateMultipartUploadResult>'));
      } else if (request.method === 'PUT' && url.searchParams.has('partNumber')) {
        const hash = createHash('sha256');
        request.on('data', (chunk: Buffer) => hash.update(chunk));
        request.on('end', () => {
          parts.push({
            header: request.headers['x-amz-content-sha256'] as string | undefined,
            signedHeaders: /SignedHeaders=([^,]+)/.exec(request.headers.authorization ?? '')?.[1] ?? '',
            bodySha256: hash.digest('hex'),
          });
          response.writeHead(200, { etag: `"part-${url.searchParams.get('partNumber')}"` });
          response.end();
        });
      } else if (request.method === 'POST' && url.searchParams.has('uploadId')) {
        response.writeHead(200, { 'content-type': 'application/xml' });
        response.end(xml(`<CompleteMultipartUploadResult><Bucket>${TEST_BUCKET}</Bucket><Key>obj</Key><ETag>"whole"</ETag></CompleteMultipartUploadResult>`));
      } else {
        response.writeHead(501);
        response.end();
      }
    });
    const storage = createS3Storage({
      kind: 's3',
      bucket: TEST_BUCKET,
      endpoint: stub.endpoint,
      forcePathStyle: true,
      credentials: S3RVER_CREDENTIALS,
      maxAttempts: 1,
    });
    try {
      const data = randomBytes(MIN_PART_SIZE + 100);
      const writer = await storage.beginWrite('obj', { expectedSize: data.length });
      await writeInParts(writer, data, MIN_PART_SIZE);
      await writer.complete({ overwrite: false });
      expect(parts).toHaveLength(2);
      for (const part of parts) {
        expect(part.header).toBe(part.bodySha256);
        expect(part.signedHeaders.split(';')).toContain('x-amz-content-sha256');
      }
    } finally {
      await storage.close();
      await stub.stop();
    }
  });
});

describe('reads', () => {
  it('returns fewer bytes at the end, none past it, NOT_FOUND when missing', async () => {
    const storage = storageUnder('ranges');
    const data = Buffer.from('0123456789');
    const writer = await storage.beginWrite('ten');
    await writer.writePart(0, 0, data);
    await writer.complete({ overwrite: false });
    const empty = await storage.beginWrite('empty', { expectedSize: 0 });
    await empty.complete({ overwrite: false });

    expect(Buffer.from(await storage.readRange('ten', 3, 4)).toString()).toBe('3456');
    expect(Buffer.from(await storage.readRange('ten', 8, 100)).toString()).toBe('89');
    expect((await storage.readRange('ten', 10, 5)).length).toBe(0);
    expect((await storage.readRange('ten', 50, 5)).length).toBe(0);
    expect((await storage.readRange('ten', 2, 0)).length).toBe(0);
    expect((await storage.readRange('empty', 0, 16)).length).toBe(0);
    await expectReason(storage.readRange('missing', 0, 5), 'NOT_FOUND');
    await expectReason(storage.readRange('missing', 0, 0), 'NOT_FOUND');
  });

  it('retries a body that breaks off, then gives up with STORAGE_UNAVAILABLE', async () => {
    for (const [breaks, outcome] of [[1, 'bytes'], [5, 'unavailable']] as const) {
      // Half of each asked range arrives: progress every time, yet never the whole object in three.
      const stub = await startRangedBreakingStub(breaks, (length) => Math.floor(length / 2));
      const storage = createTestS3Storage(stub.endpoint, { maxAttempts: 3 });
      try {
        if (outcome === 'bytes') {
          expect(Buffer.from(await storage.readRange('obj', 0, 10)).toString()).toBe('0123456789');
          expect(stub.gets()).toBe(2);
        } else {
          await expectReason(storage.readRange('obj', 0, 10), 'STORAGE_UNAVAILABLE');
          expect(stub.gets()).toBe(3);
        }
      } finally {
        await storage.close();
        await stub.stop();
      }
    }
  });

  it('readRangeStream yields the same bytes as they arrive, fewer at the end, none past it', async () => {
    const storage = storageUnder('stream');
    const data = randomBytes(MIN_PART_SIZE + 1000);
    const writer = await storage.beginWrite('obj', { expectedSize: data.length });
    await writeInParts(writer, data, MIN_PART_SIZE);
    await writer.complete({ overwrite: false });
    const read = (offset: number, length: number) => collect(storage.readRangeStream!('obj', offset, length));
    for (const [offset, length] of [[0, 10], [MIN_PART_SIZE - 5, 10], [0, data.length], [123_456, 2 * 1024 * 1024]] as const) {
      expect((await read(offset, length)).equals(data.subarray(offset, offset + length))).toBe(true);
    }
    expect((await read(data.length - 10, 100)).equals(data.subarray(data.length - 10))).toBe(true);
    expect((await read(data.length + 5, 4)).length).toBe(0);
    expect((await read(0, 0)).length).toBe(0);
    await expectReason(read(0, 4).then(() => collect(storage.readRangeStream!('missing', 0, 4))), 'NOT_FOUND');
    await expect(storage.readRangeStream!('obj', -1, 4)[Symbol.asyncIterator]().next()).rejects.toBeInstanceOf(RangeError);
  });

  it('readRangeStream asks again from where a broken body stopped, and takes its range out of a whole object sent instead', async () => {
    const breaking = await startRangedBreakingStub(1);
    const storage = createTestS3Storage(breaking.endpoint, { maxAttempts: 3 });
    try {
      expect((await collect(storage.readRangeStream!('obj', 1, 8))).toString()).toBe('12345678');
      expect(breaking.ranges).toEqual(['bytes=1-8', 'bytes=5-8']);
    } finally {
      await storage.close();
      await breaking.stop();
    }
    // Breaking every time: STORAGE_UNAVAILABLE after maxAttempts requests.
    const alwaysBreaking = await startRangedBreakingStub(Infinity);
    const giveUp = createTestS3Storage(alwaysBreaking.endpoint, { maxAttempts: 2 });
    try {
      await expectReason(collect(giveUp.readRangeStream!('obj', 0, 10)), 'STORAGE_UNAVAILABLE');
      expect(alwaysBreaking.ranges).toEqual(['bytes=0-9', 'bytes=4-9']);
    } finally {
      await giveUp.close();
      await alwaysBreaking.stop();
    }
    // A server that ignores Range: 200 with the whole object.
    const whole = await startStub((request, response) => {
      response.writeHead(200, { 'content-length': '10', etag: '"e"' });
      response.end(request.method === 'HEAD' ? undefined : '0123456789');
    });
    const ignoring = createTestS3Storage(whole.endpoint, { maxAttempts: 1 });
    try {
      expect((await collect(ignoring.readRangeStream!('obj', 3, 4))).toString()).toBe('3456');
    } finally {
      await ignoring.close();
      await whole.stop();
    }
  });

  it('refuses an answer that starts elsewhere than the range asked for, rather than taking its bytes as ours', async () => {
    const wrong = await startStub((request, response) => {
      const headers = { 'last-modified': new Date().toUTCString(), etag: '"e"' };
      if (request.method === 'HEAD') {
        response.writeHead(200, { ...headers, 'content-length': '10' });
        response.end();
        return;
      }
      response.writeHead(206, { ...headers, 'content-length': '10', 'content-range': 'bytes 0-9/10' });
      response.end('0123456789');
    });
    const storage = createTestS3Storage(wrong.endpoint, { maxAttempts: 1 });
    try {
      await expectReason(storage.readRange('obj', 3, 4), 'STORAGE_UNAVAILABLE');
    } finally {
      await storage.close();
      await wrong.stop();
    }
  });

  it('answers CANCELLED when the signal aborts', async () => {
    const storage = storageUnder('cancel');
    const writer = await storage.beginWrite('obj');
    await writer.writePart(0, 0, Buffer.from('data'));
    await writer.complete({ overwrite: false });
    await expectReason(storage.readRange('obj', 0, 4, AbortSignal.abort()), 'CANCELLED');

    const controller = new AbortController();
    const big = await storage.beginWrite('big', { signal: controller.signal });
    controller.abort();
    await expectReason(big.writePart(0, 0, randomBytes(MIN_PART_SIZE)), 'CANCELLED');
    await big.abort();
    await expectReason(storage.stat('big'), 'NOT_FOUND');
  });

  it('deletes with NOT_FOUND for a missing object (S3 itself would succeed)', async () => {
    const storage = storageUnder('delete');
    const writer = await storage.beginWrite('obj');
    await writer.writePart(0, 0, Buffer.from('x'));
    await writer.complete({ overwrite: false });
    await storage.delete('obj');
    await expectReason(storage.stat('obj'), 'NOT_FOUND');
    await expectReason(storage.delete('obj'), 'NOT_FOUND');
  });
});

describe('listing', () => {
  const names = ['a', 'a/b', 'a/b/c', 'a-b', 'a0', 'b', 'z\u00e9', 'z\u{1F600}', 'z\uFFFD', 'dir/x'];

  async function writeAll(storage: Storage): Promise<void> {
    for (const name of names) {
      const writer = await storage.beginWrite(name);
      await writer.writePart(0, 0, Buffer.from(name));
      await writer.complete({ overwrite: false });
    }
  }

  it('pages through every name once, in UTF-8 byte order, without the store prefix', async () => {
    const storage = storageUnder('listing/store');
    await writeAll(storage);
    // Keys outside the prefix, or that are not names (a console's "folder/" marker), stay out.
    const client = rawClient();
    await client.send(new PutObjectCommand({ Bucket: TEST_BUCKET, Key: 'listing/other', Body: Buffer.from('x') }));
    await client.send(new PutObjectCommand({ Bucket: TEST_BUCKET, Key: 'listing/store/dir/', Body: Buffer.alloc(0) }));
    client.destroy();

    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await storage.list({ limit: 3, ...(cursor === undefined ? {} : { cursor }) });
      expect(page.objects.length).toBeLessThanOrEqual(3);
      seen.push(...page.objects.map((object) => object.name));
      cursor = page.nextCursor ?? undefined;
      pages++;
    } while (cursor !== undefined && pages < 20);
    expect(seen).toEqual([...names].sort(compareUtf8));

    const all = await storage.list({ limit: 1000 });
    expect(all.nextCursor).toBeNull();
    const a = all.objects.find((object) => object.name === 'a/b/c');
    expect(a?.storedSize).toBe(5);
    expect(a?.modifiedAt).toBeInstanceOf(Date);

    const underA = await storage.list({ limit: 1000, prefix: 'a/' });
    expect(underA.objects.map((object) => object.name)).toEqual(['a/b', 'a/b/c']);
  });

  it('rejects a cursor it did not make', async () => {
    const storage = storageUnder('listing/cursor');
    for (const cursor of ['not a cursor!', '', 'AAAA_', '_w']) {
      const err = await rejection(storage.list({ limit: 5, cursor }));
      expect(err).toBeInstanceOf(InvalidParamsError);
      expect((err as InvalidParamsError).param).toBe('cursor');
    }
  });
});

describe('init', () => {
  it('tolerates s3rver, which cannot list unfinished uploads, with a warning', async () => {
    const warnings: string[] = [];
    const storage = createTestStorageWithWarnings(warnings);
    await storage.init();
    expect(warnings.filter((warning) => /NotImplemented/.test(warning))).toHaveLength(1);
    for (const warning of warnings) expect(warning).not.toMatch(/S3RVER/);
  });

  it('finds by probing that s3rver ignores If-None-Match, and warns that overwrite: false is not atomic there', async () => {
    const warnings: string[] = [];
    const storage = createS3Storage(
      { kind: 's3', bucket: TEST_BUCKET, prefix: 'init-probe', endpoint: server.endpoint, forcePathStyle: true, credentials: S3RVER_CREDENTIALS },
      { onWarning: (message) => warnings.push(message) },
    );
    expect(storage.capabilities.atomicNoOverwrite).toBe(true); // nothing known before init()
    await storage.init();
    expect(storage.capabilities).toEqual({ atomicNoOverwrite: false, abortCleansUp: false, headerRewrite: 'streamed' });
    expect(warnings.filter((warning) => /not enforced atomically/.test(warning))).toHaveLength(1);
    expect(storage.warnings).toEqual(warnings);
    // The probe leaves nothing behind that list() would show, nor anything at all.
    expect((await storage.list({ limit: 10 })).objects).toEqual([]);
    await storage.close();
  });

  it('fails with STORAGE_UNAVAILABLE naming the bucket problem when the bucket does not exist', async () => {
    const storage = storageUnder('init', { bucket: 'no-such-bucket' });
    const err = await expectReason(storage.init(), 'STORAGE_UNAVAILABLE');
    expect(err.message).toMatch(/does not exist/);
  });

  it('aborts stale uploads under the prefix and leaves fresh and foreign ones (S3 stub)', async () => {
    const stub = await startMultipartStub([
      { key: 'pre/old', uploadId: 'u-old', initiated: new Date(Date.now() - 2 * 3600_000) },
      { key: 'pre/fresh', uploadId: 'u-fresh', initiated: new Date(Date.now() - 60_000) },
      { key: 'other/old', uploadId: 'u-foreign', initiated: new Date(Date.now() - 2 * 3600_000) },
    ]);
    try {
      const storage = createS3Storage({
        kind: 's3',
        bucket: TEST_BUCKET,
        prefix: 'pre',
        endpoint: stub.endpoint,
        forcePathStyle: true,
        credentials: S3RVER_CREDENTIALS,
        staleUploadAgeMs: 3600_000,
        maxAttempts: 1,
      });
      await storage.init();
      await storage.close();
      expect(stub.listedPrefixes).toEqual(['pre/']);
      expect(stub.aborted).toEqual(['pre/old?u-old']);
    } finally {
      await stub.stop();
    }
  });

  function createTestStorageWithWarnings(warnings: string[]): Storage {
    const storage = createS3Storage(
      {
        kind: 's3',
        bucket: TEST_BUCKET,
        prefix: 'init',
        endpoint: server.endpoint,
        forcePathStyle: true,
        credentials: S3RVER_CREDENTIALS,
        maxAttempts: 2,
      },
      { onWarning: (message) => warnings.push(message) },
    );
    storages.push(storage);
    return storage;
  }
});

describe('credentials', () => {
  const secretId = 'AKIACLOUDLOCKERTEST1';
  const secretKey = 'never/show+this-secret-key-0123456789';

  function assertNoCredentials(err: unknown): void {
    const text = [
      String(err),
      (err as Error).message,
      inspect(err, { depth: Infinity, showHidden: true }),
      JSON.stringify(err),
      String((err as Error).cause),
    ].join('\n');
    for (const secret of [secretId, secretKey, 'S3RVER']) expect(text).not.toContain(secret);
  }

  it('never puts credentials into error messages', async () => {
    const storage = storageUnder('creds', { credentials: { accessKeyId: secretId, secretAccessKey: secretKey } });
    const errors = [
      await rejection(storage.stat('x')),
      await rejection(storage.list({ limit: 5 })),
      await rejection(storage.readRange('x', 0, 5)),
      await rejection(storage.delete('x')),
      await rejection(
        storage.beginWrite('x').then(async (writer) => {
          await writer.writePart(0, 0, Buffer.from('x'));
          return writer.complete({ overwrite: true });
        }),
      ),
    ];
    for (const err of errors) {
      expect(err).toBeInstanceOf(CloudlockerError);
      expect(['STORAGE_UNAVAILABLE', 'PERMISSION_DENIED']).toContain((err as CloudlockerError).reason);
      assertNoCredentials(err);
    }
    expect((errors[1] as Error).message).toMatch(/rejected the credentials \(InvalidAccessKeyId\)/);
  });

  it('takes credentials from the SDK chain (environment) when none are configured', async () => {
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, key: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = S3RVER_CREDENTIALS.secretAccessKey;
    try {
      const storage = createS3Storage({
        kind: 's3',
        bucket: TEST_BUCKET,
        prefix: 'env-creds',
        endpoint: server.endpoint,
        forcePathStyle: true,
      });
      storages.push(storage);
      const writer = await storage.beginWrite('obj');
      await writer.writePart(0, 0, Buffer.from('via env'));
      await writer.complete({ overwrite: false });
      expect(Buffer.from(await storage.readRange('obj', 0, 7)).toString()).toBe('via env');
    } finally {
      restoreEnv('AWS_ACCESS_KEY_ID', saved.id);
      restoreEnv('AWS_SECRET_ACCESS_KEY', saved.key);
    }
  });
});

describe('a store that goes away', () => {
  it('answers STORAGE_UNAVAILABLE within seconds, and carries on after a restart', async () => {
    const own = await startS3rver();
    const storage = createTestS3Storage(own.endpoint, { prefix: 'outage' });
    try {
      const data = randomBytes(MIN_PART_SIZE + 1000);
      const writer = await storage.beginWrite('obj', { expectedSize: data.length });
      await writer.writePart(0, 0, data.subarray(0, MIN_PART_SIZE));

      await own.stop({ removeDirectory: false });
      const started = Date.now();
      const err = await expectReason(writer.writePart(1, MIN_PART_SIZE, data.subarray(MIN_PART_SIZE)), 'STORAGE_UNAVAILABLE');
      await expectReason(storage.stat('obj'), 'STORAGE_UNAVAILABLE');
      await expectReason(storage.list({ limit: 1 }), 'STORAGE_UNAVAILABLE');
      const elapsed = Date.now() - started;
      expect(elapsed).toBeLessThan(5_000);
      expect(err.message).toContain(storage.location);
      expect(err.message).toMatch(/could not be reached \(ECONNREFUSED after 3 attempts\)/);

      await own.restart();
      // The same write goes on where it stopped.
      await writer.writePart(1, MIN_PART_SIZE, data.subarray(MIN_PART_SIZE));
      expect((await writer.complete({ overwrite: false })).storedSize).toBe(data.length);
      expect(Buffer.from(await storage.readRange('obj', 0, data.length)).equals(data)).toBe(true);
    } finally {
      await storage.close();
      await own.stop();
    }
  });
});

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

interface StubUpload {
  readonly key: string;
  readonly uploadId: string;
  readonly initiated: Date;
}

type StubHandler = (request: IncomingMessage, response: ServerResponse, url: URL) => void;

/** A loopback HTTP server standing in for S3 where s3rver cannot show a case. */
async function startStub(handler: StubHandler) {
  const server = createServer((request, response) => {
    request.resume();
    handler(request, response, new URL(request.url ?? '/', 'http://stub'));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Just enough of S3 for init(): ListMultipartUploads and AbortMultipartUpload. */
async function startMultipartStub(uploads: StubUpload[]) {
  const listedPrefixes: string[] = [];
  const aborted: string[] = [];
  const stub = await startStub((request, response, url) => {
    if (request.method === 'GET' && url.searchParams.has('uploads')) {
      const prefix = url.searchParams.get('prefix') ?? '';
      listedPrefixes.push(prefix);
      const matching = uploads.filter((upload) => upload.key.startsWith(prefix));
      response.writeHead(200, { 'content-type': 'application/xml' });
      response.end(
        '<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult>' +
          `<Bucket>${TEST_BUCKET}</Bucket><IsTruncated>false</IsTruncated>` +
          matching
            .map(
              (upload) =>
                `<Upload><Key>${upload.key}</Key><UploadId>${upload.uploadId}</UploadId>` +
                `<Initiated>${upload.initiated.toISOString()}</Initiated></Upload>`,
            )
            .join('') +
          '</ListMultipartUploadsResult>',
      );
      return;
    }
    if (request.method === 'DELETE' && url.searchParams.has('uploadId')) {
      aborted.push(`${decodeURIComponent(url.pathname.replace(`/${TEST_BUCKET}/`, ''))}?${url.searchParams.get('uploadId')}`);
      response.writeHead(204);
      response.end();
      return;
    }
    response.writeHead(501);
    response.end();
  });
  return { ...stub, listedPrefixes, aborted };
}

/**
 * An S3 where the object "obj" does not exist until a conditional write is
 * refused with 412 (someone else won), and exists afterwards as described.
 */
async function startConditionalStub(options: { headAfterRefusal: { size: number; etag: string } }) {
  const conditionalRequests: string[] = [];
  let refused = false;
  let abortedUploads = 0;
  const xml = (body: string) => `<?xml version="1.0" encoding="UTF-8"?>${body}`;
  const stub = await startStub((request, response, url) => {
    const conditional = request.headers['if-none-match'] === '*';
    if (conditional) conditionalRequests.push(request.method ?? '');
    if (request.method === 'HEAD') {
      if (!refused) {
        response.writeHead(404);
        response.end();
        return;
      }
      response.writeHead(200, {
        'content-length': String(options.headAfterRefusal.size),
        etag: options.headAfterRefusal.etag,
        'last-modified': new Date().toUTCString(),
      });
      response.end();
      return;
    }
    if (request.method === 'POST' && url.searchParams.has('uploads')) {
      response.writeHead(200, { 'content-type': 'application/xml' });
      response.end(xml(`<InitiateMultipartUploadResult><UploadId>u1</UploadId></InitiateMultipartUploadResult>`));
      return;
    }
    if (request.method === 'PUT' && url.searchParams.has('partNumber')) {
      response.writeHead(200, { etag: `"part-${url.searchParams.get('partNumber')}"` });
      response.end();
      return;
    }
    if (request.method === 'DELETE' && url.searchParams.has('uploadId')) {
      abortedUploads++;
      response.writeHead(204);
      response.end();
      return;
    }
    if (conditional) {
      refused = true;
      response.writeHead(412, { 'content-type': 'application/xml' });
      response.end(xml('<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>'));
      return;
    }
    response.writeHead(501);
    response.end();
  });
  return {
    ...stub,
    conditionalRequests,
    get abortedUploads() {
      return abortedUploads;
    },
  };
}

/**
 * An object "obj" of ten bytes whose ranged GETs break off after half the
 * body `breaks` times, then succeed.
 */
async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const pieces: Uint8Array[] = [];
  // A piece is valid only until the next is asked for (the contract): kept as a copy.
  for await (const piece of stream) pieces.push(Buffer.from(piece));
  return Buffer.concat(pieces);
}

/** Serves '0123456789' honouring Range; its first `breaks` answers break off after `sentBeforeBreak` bytes (4). */
async function startRangedBreakingStub(breaks: number, sentBeforeBreak: (rangeLength: number) => number = () => 4) {
  const content = Buffer.from('0123456789');
  const ranges: string[] = [];
  const stub = await startStub((request, response) => {
    const headers = { 'last-modified': new Date().toUTCString(), etag: '"e"' };
    if (request.method === 'HEAD') {
      response.writeHead(200, { ...headers, 'content-length': String(content.length) });
      response.end();
      return;
    }
    ranges.push(request.headers.range ?? '');
    const [, from, to] = (/bytes=(\d+)-(\d+)/.exec(request.headers.range ?? '') ?? ['', '0', '9']).map(Number) as [number, number, number];
    response.writeHead(206, { ...headers, 'content-length': String(to - from + 1), 'content-range': `bytes ${from}-${to}/${content.length}` });
    if (ranges.length <= breaks) {
      response.write(content.subarray(from, from + sentBeforeBreak(to - from + 1)));
      setTimeout(() => response.socket?.destroy(), 20);
      return;
    }
    response.end(content.subarray(from, to + 1));
  });
  return { ...stub, ranges, gets: () => ranges.length };
}

