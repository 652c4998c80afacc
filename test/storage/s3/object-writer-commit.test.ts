/**
 * S3ObjectWriter's commit path, call by call, against a scripted fake S3
 * client: which request publishes the object (one PutObject or a
 * CompleteMultipartUpload), with what (parts in order, their ETags, the
 * body's MD5, If-None-Match), when the name is refused, what a failure
 * leaves (retryable, or the upload aborted), and what abort()/suspend() do.
 * A real server (s3rver) cannot fail or refuse on demand; the end-to-end
 * behaviour is in the conformance suites.
 */
import { createHash } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { describe, expect, it } from '@jest/globals';
import { CloudlockerError } from '../../../src/errors.js';
import {
  MAX_PARTS,
  MIN_PART_SIZE,
  parseResumeToken,
  S3ObjectWriter,
  UPLOAD_MARKER_KEY,
  type CommitMode,
} from '../../../src/storage/s3/object-writer.js';
import type { ResumedPart } from '../../../src/storage/storage.js';

function s3Error(name: string, status: number): Error {
  return Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
}

interface Sent {
  command: object;
  name: string;
  signal: AbortSignal | undefined;
}

type Answer = (command: object) => unknown;

/**
 * Records every command with the signal it was sent with; answers from
 * `script` (by command name, consumed in order) or else like a plain S3
 * with no object at the key.
 */
class ScriptedS3 {
  readonly sent: Sent[] = [];
  private readonly script = new Map<string, Answer[]>();
  /** HeadObject's answer once nothing is scripted: undefined = 404. */
  head: { ContentLength: number; ETag?: string; Metadata?: Record<string, string> } | undefined;

  asClient(): S3Client {
    return this as unknown as S3Client;
  }

  /** The next `name` command is answered by `answer` (an Error is thrown). */
  on(name: string, answer: Answer): this {
    const queue = this.script.get(name) ?? [];
    queue.push(answer);
    this.script.set(name, queue);
    return this;
  }

  named(name: string): Sent[] {
    return this.sent.filter((entry) => entry.name === name);
  }

  names(): string[] {
    return this.sent.map((entry) => entry.name);
  }

  async send(command: object, options?: { abortSignal?: AbortSignal }): Promise<unknown> {
    const name = command.constructor.name;
    this.sent.push({ command, name, signal: options?.abortSignal });
    const scripted = this.script.get(name)?.shift();
    if (scripted !== undefined) {
      const answer = await scripted(command);
      if (answer instanceof Error) throw answer;
      return answer;
    }
    if (command instanceof CreateMultipartUploadCommand) return { UploadId: 'upload-1' };
    if (command instanceof UploadPartCommand) return { ETag: `"etag-${command.input.PartNumber}"` };
    if (command instanceof PutObjectCommand) return { ETag: '"put-etag"' };
    if (command instanceof CompleteMultipartUploadCommand) return { ETag: '"complete-etag"' };
    if (command instanceof HeadObjectCommand) {
      if (this.head === undefined) throw s3Error('NotFound', 404);
      return this.head;
    }
    if (command instanceof AbortMultipartUploadCommand) return {};
    if (command instanceof ListPartsCommand) return { Parts: [] };
    throw new Error(`unexpected command ${name}`);
  }
}

interface WriterOptions {
  expectedSize?: number | undefined;
  commitMode?: CommitMode;
  signal?: AbortSignal;
  resume?: { uploadId: string; marker: string | undefined; parts: ResumedPart[] };
}

function writerFor(fake: ScriptedS3, options: WriterOptions = {}): S3ObjectWriter {
  return new S3ObjectWriter({
    client: fake.asClient(),
    bucket: 'bucket',
    key: 'prefix/obj',
    name: 'obj',
    location: 's3://bucket/prefix',
    expectedSize: 'expectedSize' in options ? options.expectedSize : undefined,
    signal: options.signal,
    commitMode: options.commitMode ?? 'conditional',
    replaceMode: 'check',
    claims: { client: fake.asClient(), bucket: 'bucket', keyPrefix: 'prefix/', leaseMs: 60_000, ifMatch: 'quoted' },
    singleAttemptClient: fake.asClient(),
    ...(options.resume === undefined ? {} : { resume: options.resume }),
  });
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
}

const BIG = Buffer.alloc(MIN_PART_SIZE, 7);
const TAIL = Buffer.from('the last part');

/** Two parts: a multipart upload (part 0 is a full part). */
async function writeMultipart(writer: S3ObjectWriter): Promise<void> {
  await writer.writePart(0, 0, BIG);
  await writer.writePart(1, MIN_PART_SIZE, TAIL);
}

function md5(data: Uint8Array): Buffer {
  return createHash('md5').update(data).digest();
}

describe('writePart refuses what it cannot store', () => {
  it.each([
    ['a negative index', -1, 0],
    ['an index past S3\'s last part', MAX_PARTS, 0],
    ['a fractional index', 0.5, 0],
    ['a negative offset', 0, -1],
    ['a fractional offset', 0, 1.5],
  ])('%s is a RangeError, and nothing is sent', async (_label, index, offset) => {
    const fake = new ScriptedS3();
    await expect(writerFor(fake).writePart(index, offset, TAIL)).rejects.toBeInstanceOf(RangeError);
    expect(fake.sent).toEqual([]);
  });

  it('the last index S3 accepts (MAX_PARTS - 1) is taken, as part number MAX_PARTS', async () => {
    const fake = new ScriptedS3();
    await writerFor(fake).writePart(MAX_PARTS - 1, 0, BIG);
    expect((fake.named('UploadPartCommand')[0]!.command as UploadPartCommand).input.PartNumber).toBe(MAX_PARTS);
  });

  it('names the range in the error', async () => {
    await expect(writerFor(new ScriptedS3()).writePart(MAX_PARTS, 0, TAIL)).rejects.toThrow(
      `S3 accepts part indexes 0..${MAX_PARTS - 1}; got ${MAX_PARTS}: use larger parts.`,
    );
    await expect(writerFor(new ScriptedS3()).writePart(0, -1, TAIL)).rejects.toThrow('Invalid part offset -1.');
  });

  it('after abort(), after suspend() and once the caller\'s signal is aborted: CANCELLED', async () => {
    const aborted = writerFor(new ScriptedS3());
    await aborted.abort();
    await expect(aborted.writePart(0, 0, TAIL)).rejects.toMatchObject({ reason: 'CANCELLED' });

    const suspended = writerFor(new ScriptedS3());
    await suspended.writePart(0, 0, BIG);
    await suspended.suspend();
    await expect(suspended.writePart(1, MIN_PART_SIZE, TAIL)).rejects.toMatchObject({ reason: 'CANCELLED' });

    const controller = new AbortController();
    const fake = new ScriptedS3();
    const cancelled = writerFor(fake, { signal: controller.signal });
    controller.abort();
    await expect(cancelled.writePart(0, 0, BIG)).rejects.toMatchObject({ reason: 'CANCELLED' });
    expect(fake.sent).toEqual([]);
  });

  it('after complete() it is a caller error, not a cancel', async () => {
    const writer = writerFor(new ScriptedS3(), { expectedSize: TAIL.length });
    await writer.writePart(0, 0, TAIL);
    await writer.complete({ overwrite: true });
    await expect(writer.writePart(1, TAIL.length, TAIL)).rejects.toThrow('writePart() on a writer that is completed.');
  });
});

describe('a small object: one PutObject', () => {
  it('buffers every part of an object of at most MIN_PART_SIZE and sends them in order, with their MD5', async () => {
    const fake = new ScriptedS3();
    const writer = writerFor(fake, { expectedSize: 8 });
    // Parts out of order; the caller reuses its buffer once writePart resolves.
    const reused = Buffer.from('efgh');
    await writer.writePart(1, 4, reused);
    reused.fill(0);
    await writer.writePart(0, 0, Buffer.from('abcd'));
    expect(fake.sent).toEqual([]);
    const info = await writer.complete({ overwrite: true });
    expect(fake.names()).toEqual(['PutObjectCommand']);
    const put = fake.named('PutObjectCommand')[0]!;
    const input = (put.command as PutObjectCommand).input;
    expect(Buffer.from(input.Body as Uint8Array).toString()).toBe('abcdefgh');
    expect(input.ContentLength).toBe(8);
    expect(input.ContentMD5).toBe(md5(Buffer.from('abcdefgh')).toString('base64'));
    expect(input.IfNoneMatch).toBeUndefined();
    expect(input).toMatchObject({ Bucket: 'bucket', Key: 'prefix/obj' });
    // Publishing is not cut off by a cancel: its outcome must be known.
    expect(put.signal).toBeUndefined();
    expect(info).toMatchObject({ name: 'obj', storedSize: 8, version: '"put-etag"' });
  });

  it('an object of exactly MIN_PART_SIZE is still one PutObject', async () => {
    const fake = new ScriptedS3();
    const writer = writerFor(fake, { expectedSize: MIN_PART_SIZE });
    await writer.writePart(0, 0, BIG);
    await writer.complete({ overwrite: true });
    expect(fake.names()).toEqual(['PutObjectCommand']);
  });

  it('with no size given, a part 0 shorter than MIN_PART_SIZE is the whole object', async () => {
    const fake = new ScriptedS3();
    const writer = writerFor(fake);
    await writer.writePart(0, 0, TAIL);
    await writer.complete({ overwrite: true });
    expect(fake.names()).toEqual(['PutObjectCommand']);
    expect(writer.resumeToken).toBeUndefined();
  });

  it('a store answering an empty ETag: the version is the MD5 ETag of what was sent', async () => {
    const fake = new ScriptedS3().on('PutObjectCommand', () => ({ ETag: '' }));
    const writer = writerFor(fake, { expectedSize: TAIL.length });
    await writer.writePart(0, 0, TAIL);
    await expect(writer.complete({ overwrite: true })).resolves.toMatchObject({ version: `"${md5(TAIL).toString('hex')}"` });
  });

  it.each([
    ['conditional', false, '*'],
    ['check', false, undefined],
    ['conditional', true, undefined],
    ['claim', true, undefined],
  ] as const)('commit mode %s, overwrite %s: If-None-Match %s', async (commitMode, overwrite, expected) => {
    // (claim mode without overwrite, where the claim's PUT comes first: test/storage/s3/claims.test.ts)
    const fake = new ScriptedS3();
    const writer = writerFor(fake, { expectedSize: TAIL.length, commitMode });
    await writer.writePart(0, 0, TAIL);
    await writer.complete({ overwrite });
    const puts = fake.named('PutObjectCommand').filter((entry) => (entry.command as PutObjectCommand).input.Key === 'prefix/obj');
    expect(puts).toHaveLength(1);
    expect((puts[0]!.command as PutObjectCommand).input.IfNoneMatch).toBe(expected);
  });

  it('overwrite false (no claim): an existing object is ALREADY_EXISTS, found by HeadObject first, and nothing is written', async () => {
    const fake = new ScriptedS3();
    fake.head = { ContentLength: 3 };
    const writer = writerFor(fake, { expectedSize: TAIL.length, commitMode: 'check' });
    await writer.writePart(0, 0, TAIL);
    await expect(writer.complete({ overwrite: false })).rejects.toMatchObject({ reason: 'ALREADY_EXISTS' });
    expect(fake.names()).toEqual(['HeadObjectCommand']);
    // The writer is finished: refused for good.
    await expect(writer.complete({ overwrite: false })).rejects.toMatchObject({ reason: 'CANCELLED' });
  });

  it('a HeadObject that fails otherwise than "not found" is not taken for a free name', async () => {
    const fake = new ScriptedS3().on('HeadObjectCommand', () => s3Error('AccessDenied', 403));
    const writer = writerFor(fake, { expectedSize: TAIL.length, commitMode: 'check' });
    await writer.writePart(0, 0, TAIL);
    const err = await failure(writer.complete({ overwrite: false }));
    expect(err).toBeInstanceOf(CloudlockerError);
    expect((err as CloudlockerError).reason).toBe('STORAGE_UNAVAILABLE');
    expect(fake.named('PutObjectCommand')).toHaveLength(0);
  });

  it('If-None-Match refused (412 or 409) and the object is not ours: ALREADY_EXISTS', async () => {
    for (const refusal of [s3Error('PreconditionFailed', 412), s3Error('ConditionalRequestConflict', 409)]) {
      // The name was free when checked; someone published it before our PUT.
      const fake = new ScriptedS3().on('HeadObjectCommand', () => s3Error('NotFound', 404)).on('PutObjectCommand', () => refusal);
      fake.head = { ContentLength: TAIL.length, ETag: '"someone-else"' };
      const writer = writerFor(fake, { expectedSize: TAIL.length });
      await writer.writePart(0, 0, TAIL);
      await expect(writer.complete({ overwrite: false })).rejects.toMatchObject({ reason: 'ALREADY_EXISTS' });
    }
  });

  it('If-None-Match refused on a retried PUT whose first attempt landed (same size, our MD5 ETag): published', async () => {
    const fake = new ScriptedS3().on('HeadObjectCommand', () => s3Error('NotFound', 404)).on('PutObjectCommand', () => s3Error('PreconditionFailed', 412));
    const etag = `"${md5(TAIL).toString('hex')}"`;
    fake.head = { ContentLength: TAIL.length, ETag: etag };
    const writer = writerFor(fake, { expectedSize: TAIL.length });
    await writer.writePart(0, 0, TAIL);
    await expect(writer.complete({ overwrite: false })).resolves.toMatchObject({ version: etag, storedSize: TAIL.length });
  });

  it('412 with an object of our ETag but another size is not ours', async () => {
    const fake = new ScriptedS3().on('HeadObjectCommand', () => s3Error('NotFound', 404)).on('PutObjectCommand', () => s3Error('PreconditionFailed', 412));
    fake.head = { ContentLength: TAIL.length + 1, ETag: `"${md5(TAIL).toString('hex')}"` };
    const writer = writerFor(fake, { expectedSize: TAIL.length });
    await writer.writePart(0, 0, TAIL);
    await expect(writer.complete({ overwrite: false })).rejects.toMatchObject({ reason: 'ALREADY_EXISTS' });
  });

  it('a failed PutObject is a storage error, and complete() may be called again', async () => {
    const fake = new ScriptedS3().on('PutObjectCommand', () => s3Error('SlowDown', 503));
    const writer = writerFor(fake, { expectedSize: TAIL.length });
    await writer.writePart(0, 0, TAIL);
    const err = await failure(writer.complete({ overwrite: true }));
    expect(err).toMatchObject({ reason: 'STORAGE_UNAVAILABLE' });
    expect((err as Error).message).toContain('s3://bucket/prefix');
    await expect(writer.complete({ overwrite: true })).resolves.toMatchObject({ storedSize: TAIL.length });
    expect(fake.named('PutObjectCommand')).toHaveLength(2);
  });
});

describe('a multipart upload', () => {
  it('starts on the first full part, with a fresh marker, and uploads part i as number i + 1 with its SHA-256', async () => {
    const fake = new ScriptedS3();
    const writer = writerFor(fake);
    expect(writer.resumeToken).toBeUndefined();
    await writer.writePart(0, 0, BIG);
    expect(fake.names()).toEqual(['CreateMultipartUploadCommand', 'UploadPartCommand']);
    const create = (fake.named('CreateMultipartUploadCommand')[0]!.command as CreateMultipartUploadCommand).input;
    expect(create).toMatchObject({ Bucket: 'bucket', Key: 'prefix/obj' });
    const marker = create.Metadata?.[UPLOAD_MARKER_KEY];
    expect(marker).toMatch(/^[0-9a-f]{32}$/);
    expect(writer.resumeToken).toBe(`upload-1 ${marker}`);

    const upload = fake.named('UploadPartCommand')[0]!;
    const input = (upload.command as UploadPartCommand).input;
    expect(input).toMatchObject({ Bucket: 'bucket', Key: 'prefix/obj', UploadId: 'upload-1', PartNumber: 1, ContentLength: MIN_PART_SIZE });
    expect(upload.signal).toBeInstanceOf(AbortSignal);
    expect(writer.partReceipt(0)).toBe('"etag-1"');
    expect(writer.partReceipt(1)).toBeUndefined();

    // The payload hash the signature covers: what the middleware puts in the request.
    const command = upload.command as UploadPartCommand;
    const seen: Record<string, string>[] = [];
    const handler = command.middlewareStack.resolve(
      async (args) => {
        seen.push({ ...(args.request as { headers: Record<string, string> }).headers });
        return { output: {} as never, response: {} };
      },
      {} as never,
    );
    await handler({ input: command.input, request: { headers: {} } } as never);
    expect(seen).toEqual([{ 'x-amz-content-sha256': createHash('sha256').update(BIG).digest('hex') }]);
  });

  it('completes with the parts sorted by number and their ETags, without the caller\'s signal', async () => {
    // ETags in the order the parts arrive, not by number.
    const fake = new ScriptedS3()
      .on('UploadPartCommand', () => ({ ETag: '"first"' }))
      .on('UploadPartCommand', () => ({ ETag: '"second"' }))
      .on('UploadPartCommand', () => ({ ETag: '"third"' }));
    const controller = new AbortController();
    const writer = writerFor(fake, { signal: controller.signal });
    await writer.writePart(0, 0, BIG);
    await writer.writePart(2, 2 * MIN_PART_SIZE, TAIL);
    await writer.writePart(1, MIN_PART_SIZE, BIG);
    const info = await writer.complete({ overwrite: false });
    const complete = fake.named('CompleteMultipartUploadCommand')[0]!;
    const input = (complete.command as CompleteMultipartUploadCommand).input;
    expect(input).toMatchObject({ Bucket: 'bucket', Key: 'prefix/obj', UploadId: 'upload-1', IfNoneMatch: '*' });
    expect(input.MultipartUpload?.Parts).toEqual([
      { PartNumber: 1, ETag: '"first"' },
      { PartNumber: 2, ETag: '"third"' },
      { PartNumber: 3, ETag: '"second"' },
    ]);
    expect(complete.signal).toBeUndefined();
    expect(info).toMatchObject({ name: 'obj', storedSize: 2 * MIN_PART_SIZE + TAIL.length, version: '"complete-etag"' });
    expect(info.modifiedAt).toBeInstanceOf(Date);
    expect(fake.named('AbortMultipartUploadCommand')).toHaveLength(0);
    // Completed: abort() is a no-op now.
    await writer.abort();
    expect(fake.named('AbortMultipartUploadCommand')).toHaveLength(0);
  });

  it('with overwrite, Complete carries no If-None-Match', async () => {
    const fake = new ScriptedS3();
    const writer = writerFor(fake);
    await writeMultipart(writer);
    await writer.complete({ overwrite: true });
    expect((fake.named('CompleteMultipartUploadCommand')[0]!.command as CompleteMultipartUploadCommand).input.IfNoneMatch).toBeUndefined();
  });

  it.each([
    ['a part missing in the middle', [0, 2], 'Part 1 was never written.'],
    ['part 0 missing', [1, 2], 'Part 0 was never written.'],
  ])('refuses to complete with %s, sending nothing', async (_label, indexes, message) => {
    const fake = new ScriptedS3();
    const writer = writerFor(fake);
    for (const index of indexes) await writer.writePart(index, index * MIN_PART_SIZE, BIG);
    const before = fake.sent.length;
    await expect(writer.complete({ overwrite: true })).rejects.toThrow(message);
    expect(fake.sent.length).toBe(before);
  });

  it('refuses a short part 0 followed by more parts (the caller broke the contract)', async () => {
    const fake = new ScriptedS3();
    const writer = writerFor(fake);
    await writer.writePart(0, 0, TAIL);
    await writer.writePart(1, TAIL.length, BIG);
    await expect(writer.complete({ overwrite: true })).rejects.toThrow('A part shorter than minPartSize was followed by more parts.');
  });

  it('an UploadPart answer without an ETag fails the part', async () => {
    const fake = new ScriptedS3().on('UploadPartCommand', () => ({}));
    const writer = writerFor(fake);
    const err = await failure(writer.writePart(0, 0, BIG));
    expect(err).toBeInstanceOf(CloudlockerError);
    expect((err as Error).message).toContain('uploading a part');
    expect(writer.partReceipt(0)).toBeUndefined();
  });

  it('a failed CreateMultipartUpload is retried by the next part, and an answer without an UploadId is a failure', async () => {
    const fake = new ScriptedS3()
      .on('CreateMultipartUploadCommand', () => s3Error('InternalError', 500))
      .on('CreateMultipartUploadCommand', () => ({}));
    const writer = writerFor(fake);
    const first = await failure(writer.writePart(0, 0, BIG));
    expect((first as Error).message).toContain('starting a multipart upload');
    await expect(writer.writePart(0, 0, BIG)).rejects.toBeInstanceOf(CloudlockerError);
    expect(writer.resumeToken).toBeUndefined();
    await writer.writePart(0, 0, BIG);
    expect(fake.named('CreateMultipartUploadCommand')).toHaveLength(3);
    expect(writer.resumeToken).toMatch(/^upload-1 [0-9a-f]{32}$/);
  });

  it('parts written at once share one CreateMultipartUpload', async () => {
    const fake = new ScriptedS3();
    const writer = writerFor(fake);
    await Promise.all([writer.writePart(0, 0, BIG), writer.writePart(1, MIN_PART_SIZE, BIG), writer.writePart(2, 2 * MIN_PART_SIZE, TAIL)]);
    expect(fake.named('CreateMultipartUploadCommand')).toHaveLength(1);
  });

  it('If-None-Match refused on Complete: ALREADY_EXISTS and the upload is aborted', async () => {
    for (const refusal of [s3Error('PreconditionFailed', 412), s3Error('ConditionalRequestConflict', 409)]) {
      const fake = new ScriptedS3().on('CompleteMultipartUploadCommand', () => refusal);
      const writer = writerFor(fake);
      await writeMultipart(writer);
      await expect(writer.complete({ overwrite: false })).rejects.toMatchObject({ reason: 'ALREADY_EXISTS' });
      const aborts = fake.named('AbortMultipartUploadCommand');
      expect(aborts).toHaveLength(1);
      expect((aborts[0]!.command as AbortMultipartUploadCommand).input).toMatchObject({ Bucket: 'bucket', Key: 'prefix/obj', UploadId: 'upload-1' });
    }
  });

  it('check mode, overwrite false, the name taken: ALREADY_EXISTS before Complete, and the upload is aborted', async () => {
    const fake = new ScriptedS3();
    fake.head = { ContentLength: 1 };
    const writer = writerFor(fake, { commitMode: 'check' });
    await writeMultipart(writer);
    await expect(writer.complete({ overwrite: false })).rejects.toMatchObject({ reason: 'ALREADY_EXISTS' });
    expect(fake.named('CompleteMultipartUploadCommand')).toHaveLength(0);
    expect(fake.named('AbortMultipartUploadCommand')).toHaveLength(1);
  });

  it('check mode with overwrite: no HeadObject, no If-None-Match', async () => {
    const fake = new ScriptedS3();
    fake.head = { ContentLength: 1 };
    const writer = writerFor(fake, { commitMode: 'check' });
    await writeMultipart(writer);
    await writer.complete({ overwrite: true });
    expect(fake.named('HeadObjectCommand')).toHaveLength(0);
    expect((fake.named('CompleteMultipartUploadCommand')[0]!.command as CompleteMultipartUploadCommand).input.IfNoneMatch).toBeUndefined();
  });

  it('a Complete refused otherwise (4xx) fails at once, not retried, and may be called again', async () => {
    const fake = new ScriptedS3().on('CompleteMultipartUploadCommand', () => s3Error('InvalidPart', 400));
    const writer = writerFor(fake);
    await writeMultipart(writer);
    const err = await failure(writer.complete({ overwrite: true }));
    expect(err).toMatchObject({ reason: 'STORAGE_UNAVAILABLE' });
    expect(fake.named('CompleteMultipartUploadCommand')).toHaveLength(1);
    expect(fake.named('HeadObjectCommand')).toHaveLength(0);
    expect(fake.named('AbortMultipartUploadCommand')).toHaveLength(0);
    await expect(writer.complete({ overwrite: true })).resolves.toMatchObject({ version: '"complete-etag"' });
  });

  it('a server fault on an upload that still exists is retried up to 4 attempts in all, then reported', async () => {
    const fake = new ScriptedS3();
    for (let i = 0; i < 4; i++) fake.on('CompleteMultipartUploadCommand', () => s3Error('InternalError', 500));
    const writer = writerFor(fake);
    await writeMultipart(writer);
    const err = await failure(writer.complete({ overwrite: true }));
    expect(err).toMatchObject({ reason: 'STORAGE_UNAVAILABLE' });
    expect(fake.named('CompleteMultipartUploadCommand')).toHaveLength(4);
    const listParts = fake.named('ListPartsCommand');
    expect(listParts).toHaveLength(4);
    expect((listParts[0]!.command as ListPartsCommand).input).toMatchObject({ Bucket: 'bucket', Key: 'prefix/obj', UploadId: 'upload-1' });
  }, 15_000);

  it('a fault with no HTTP status (the connection dropped) is treated as a server fault: checked and retried', async () => {
    const fake = new ScriptedS3().on('CompleteMultipartUploadCommand', () => new Error('socket hang up'));
    const writer = writerFor(fake);
    await writeMultipart(writer);
    await expect(writer.complete({ overwrite: true })).resolves.toMatchObject({ version: '"complete-etag"' });
    expect(fake.named('CompleteMultipartUploadCommand')).toHaveLength(2);
  });

  it('a server fault after which the object at the key carries our marker: published (the answer was lost)', async () => {
    const fake = new ScriptedS3().on('CompleteMultipartUploadCommand', () => s3Error('InternalError', 500));
    const writer = writerFor(fake);
    await writeMultipart(writer);
    const marker = parseResumeToken(writer.resumeToken!).marker!;
    fake.head = { ContentLength: MIN_PART_SIZE + TAIL.length, ETag: '"landed"', Metadata: { [UPLOAD_MARKER_KEY]: marker } };
    await expect(writer.complete({ overwrite: true })).resolves.toMatchObject({ version: '"landed"' });
    expect(fake.named('CompleteMultipartUploadCommand')).toHaveLength(1);
    // The object looked at is ours to look at: this bucket, this key.
    const heads = fake.named('HeadObjectCommand').map((entry) => (entry.command as HeadObjectCommand).input);
    expect(heads.length).toBeGreaterThan(0);
    for (const input of heads) expect(input).toEqual({ Bucket: 'bucket', Key: 'prefix/obj' });
  });

  it('a writer resumed from a token without a marker knows its object by size alone, whatever marker the object has', async () => {
    const fake = new ScriptedS3().on('CompleteMultipartUploadCommand', () => s3Error('InternalError', 500));
    const writer = writerFor(fake, {
      resume: { uploadId: 'legacy', marker: undefined, parts: [{ partIndex: 0, offset: 0, length: MIN_PART_SIZE, receipt: '"p1"' }] },
    });
    await writer.writePart(1, MIN_PART_SIZE, TAIL);
    fake.head = { ContentLength: MIN_PART_SIZE + TAIL.length, ETag: '"legacy-landed"', Metadata: { [UPLOAD_MARKER_KEY]: 'c'.repeat(32) } };
    await expect(writer.complete({ overwrite: true })).resolves.toMatchObject({ version: '"legacy-landed"' });
  });

  it('a ListParts that fails otherwise than "gone" does not count as the upload gone', async () => {
    const fake = new ScriptedS3()
      .on('CompleteMultipartUploadCommand', () => s3Error('InternalError', 500))
      .on('ListPartsCommand', () => s3Error('InternalError', 500));
    const writer = writerFor(fake);
    await writeMultipart(writer);
    await expect(writer.complete({ overwrite: true })).resolves.toMatchObject({ version: '"complete-etag"' });
  });

  it('an empty Complete ETag is read with HeadObject, only from an object with our size and marker', async () => {
    const fake = new ScriptedS3().on('CompleteMultipartUploadCommand', () => ({ ETag: '' }));
    const writer = writerFor(fake);
    await writeMultipart(writer);
    const marker = parseResumeToken(writer.resumeToken!).marker!;
    fake.head = { ContentLength: MIN_PART_SIZE + TAIL.length, ETag: '"head-etag"', Metadata: { [UPLOAD_MARKER_KEY]: marker } };
    await expect(writer.complete({ overwrite: true })).resolves.toMatchObject({ version: '"head-etag"' });

    const other = new ScriptedS3().on('CompleteMultipartUploadCommand', () => ({ ETag: '' }));
    const second = writerFor(other);
    await writeMultipart(second);
    other.head = { ContentLength: MIN_PART_SIZE + TAIL.length, ETag: '"not-ours"', Metadata: { [UPLOAD_MARKER_KEY]: 'f'.repeat(32) } };
    const info = await second.complete({ overwrite: true });
    expect(info.version).toBeUndefined();
    expect('version' in info).toBe(false);
  });
});

describe('abort() and suspend()', () => {
  it('abort() with a multipart upload: waits for the parts in flight, then aborts the upload once', async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const fake = new ScriptedS3();
    const writer = writerFor(fake);
    await writer.writePart(0, 0, BIG);
    fake.on('UploadPartCommand', async () => {
      await held;
      return { ETag: '"late"' };
    });
    const inFlight = writer.writePart(1, MIN_PART_SIZE, BIG).catch(() => undefined);
    await new Promise((resolve) => setImmediate(resolve));
    const aborting = writer.abort();
    await new Promise((resolve) => setImmediate(resolve));
    expect(fake.named('AbortMultipartUploadCommand')).toHaveLength(0);
    // The part's request was cut off by the writer's own signal.
    expect(fake.named('UploadPartCommand')[1]!.signal?.aborted).toBe(true);
    release();
    await aborting;
    await inFlight;
    await writer.abort();
    expect(fake.names().slice(-1)).toEqual(['AbortMultipartUploadCommand']);
    expect(fake.named('AbortMultipartUploadCommand')).toHaveLength(1);
    expect((fake.named('AbortMultipartUploadCommand')[0]!.command as AbortMultipartUploadCommand).input).toEqual({
      Bucket: 'bucket',
      Key: 'prefix/obj',
      UploadId: 'upload-1',
    });
    await expect(writer.complete({ overwrite: true })).rejects.toMatchObject({ reason: 'CANCELLED' });
  });

  it('abort() never rejects, even when AbortMultipartUpload fails', async () => {
    const fake = new ScriptedS3().on('AbortMultipartUploadCommand', () => s3Error('InternalError', 500));
    const writer = writerFor(fake);
    await writer.writePart(0, 0, BIG);
    await expect(writer.abort()).resolves.toBeUndefined();
  });

  it('abort() before any upload exists sends nothing; buffered parts are dropped', async () => {
    const fake = new ScriptedS3();
    const writer = writerFor(fake, { expectedSize: TAIL.length });
    await writer.writePart(0, 0, TAIL);
    await writer.abort();
    expect(fake.sent).toEqual([]);
    await expect(writer.complete({ overwrite: true })).rejects.toMatchObject({ reason: 'CANCELLED' });
  });

  it('suspend() keeps the upload (no abort, even when abort() is called later) and stops the writer', async () => {
    const fake = new ScriptedS3();
    const writer = writerFor(fake);
    await writer.writePart(0, 0, BIG);
    const token = writer.resumeToken;
    await writer.suspend();
    await writer.abort();
    expect(fake.named('AbortMultipartUploadCommand')).toHaveLength(0);
    expect(writer.resumeToken).toBe(token);
    await expect(writer.complete({ overwrite: true })).rejects.toMatchObject({ reason: 'CANCELLED' });
  });

  it('suspend() with nothing uploaded yet is an abort', async () => {
    const fake = new ScriptedS3();
    const writer = writerFor(fake, { expectedSize: TAIL.length });
    await writer.writePart(0, 0, TAIL);
    await writer.suspend();
    await expect(writer.writePart(1, TAIL.length, TAIL)).rejects.toMatchObject({ reason: 'CANCELLED' });
    await expect(writer.complete({ overwrite: true })).rejects.toMatchObject({ reason: 'CANCELLED' });
  });

  it('suspend() of a completed writer changes nothing', async () => {
    const fake = new ScriptedS3();
    const writer = writerFor(fake);
    await writeMultipart(writer);
    await writer.complete({ overwrite: true });
    await writer.suspend();
    expect(fake.named('AbortMultipartUploadCommand')).toHaveLength(0);
  });

  it('complete() once the caller\'s signal is aborted: CANCELLED, nothing published', async () => {
    const controller = new AbortController();
    const fake = new ScriptedS3();
    const writer = writerFor(fake, { signal: controller.signal });
    await writeMultipart(writer);
    controller.abort();
    await expect(writer.complete({ overwrite: true })).rejects.toMatchObject({ reason: 'CANCELLED' });
    expect(fake.named('CompleteMultipartUploadCommand')).toHaveLength(0);
  });
});

describe('a resumed writer', () => {
  it('knows the stored parts\' ETags and size, and completes with them', async () => {
    const fake = new ScriptedS3();
    const writer = writerFor(fake, {
      resume: {
        uploadId: 'old-upload',
        marker: 'a'.repeat(32),
        parts: [
          { partIndex: 1, offset: MIN_PART_SIZE, length: MIN_PART_SIZE, receipt: '"stored-2"' },
          { partIndex: 0, offset: 0, length: MIN_PART_SIZE, receipt: '"stored-1"' },
        ],
      },
    });
    expect(writer.resumeToken).toBe(`old-upload ${'a'.repeat(32)}`);
    expect(writer.partReceipt(1)).toBe('"stored-2"');
    const info = await writer.complete({ overwrite: true });
    expect(fake.names()).toEqual(['CompleteMultipartUploadCommand']);
    const input = (fake.named('CompleteMultipartUploadCommand')[0]!.command as CompleteMultipartUploadCommand).input;
    expect(input.UploadId).toBe('old-upload');
    expect(input.MultipartUpload?.Parts).toEqual([
      { PartNumber: 1, ETag: '"stored-1"' },
      { PartNumber: 2, ETag: '"stored-2"' },
    ]);
    expect(info.storedSize).toBe(2 * MIN_PART_SIZE);
  });

  it('refuses a stored part without an ETag', () => {
    expect(() =>
      writerFor(new ScriptedS3(), {
        resume: { uploadId: 'u', marker: undefined, parts: [{ partIndex: 3, offset: 0, length: 1, receipt: undefined }] },
      }),
    ).toThrow('Resumed part 3 has no ETag.');
  });

  it('parseResumeToken: only a 32-hex-digit last word is a marker', () => {
    expect(parseResumeToken(`id with spaces ${'b'.repeat(32)}`)).toEqual({ uploadId: 'id with spaces', marker: 'b'.repeat(32) });
    expect(parseResumeToken(`id ${'b'.repeat(31)}`)).toEqual({ uploadId: `id ${'b'.repeat(31)}`, marker: undefined });
    expect(parseResumeToken(`id ${'b'.repeat(32)}x`)).toEqual({ uploadId: `id ${'b'.repeat(32)}x`, marker: undefined });
    expect(parseResumeToken(`id x${'b'.repeat(32)}`)).toEqual({ uploadId: `id x${'b'.repeat(32)}`, marker: undefined });
    expect(parseResumeToken(` ${'b'.repeat(32)}`)).toEqual({ uploadId: ` ${'b'.repeat(32)}`, marker: undefined });
  });
});
