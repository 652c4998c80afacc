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
  DeleteObjectCommand,
  HeadObjectCommand,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
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
  type CopySource,
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

/** The key the writers under test publish to; any other key is a name claim (claims.ts). */
const OBJECT_KEY = 'prefix/obj';

/**
 * Records every command with the signal it was sent with; answers from
 * `script` (by command name, consumed in order) or else like a plain S3
 * with no object at the key. Requests for other keys (name claims) are
 * recorded as "claim:<command>" and answered from `claimScript`, or else by
 * a small conditional store of claim objects (`claims`: key -> ETag).
 */
class ScriptedS3 {
  readonly sent: Sent[] = [];
  private readonly script = new Map<string, Answer[]>();
  private readonly claimScript = new Map<string, Answer[]>();
  readonly claims = new Map<string, string>();
  private claimPuts = 0;
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

  /** The next claim `name` command is answered by `answer`. */
  onClaim(name: string, answer: Answer): this {
    const queue = this.claimScript.get(name) ?? [];
    queue.push(answer);
    this.claimScript.set(name, queue);
    return this;
  }

  named(name: string): Sent[] {
    return this.sent.filter((entry) => entry.name === name);
  }

  names(): string[] {
    return this.sent.map((entry) => entry.name);
  }

  async send(command: object, options?: { abortSignal?: AbortSignal }): Promise<unknown> {
    const key = (command as { input?: { Key?: string } }).input?.Key;
    if (key !== undefined && key !== OBJECT_KEY) return this.sendClaim(key, command, options);
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
    if (command instanceof UploadPartCopyCommand) return { CopyPartResult: { ETag: `"copy-${command.input.PartNumber}"` } };
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

  private async sendClaim(key: string, command: object, options?: { abortSignal?: AbortSignal }): Promise<unknown> {
    const name = command.constructor.name;
    this.sent.push({ command, name: `claim:${name}`, signal: options?.abortSignal });
    const scripted = this.claimScript.get(name)?.shift();
    if (scripted !== undefined) {
      const answer = await scripted(command);
      if (answer instanceof Error) throw answer;
      return answer;
    }
    const current = this.claims.get(key);
    if (command instanceof PutObjectCommand) {
      const { IfNoneMatch, IfMatch } = command.input;
      if ((IfNoneMatch === '*' && current !== undefined) || (IfMatch !== undefined && IfMatch !== current)) {
        throw s3Error('PreconditionFailed', 412);
      }
      const etag = `"claim-${++this.claimPuts}"`;
      this.claims.set(key, etag);
      return { ETag: etag };
    }
    if (command instanceof HeadObjectCommand) {
      if (current === undefined) throw s3Error('NotFound', 404);
      return { ContentLength: 1, ETag: current };
    }
    if (command instanceof DeleteObjectCommand) {
      this.claims.delete(key);
      return {};
    }
    throw new Error(`unexpected claim command ${name}`);
  }
}

interface WriterOptions {
  expectedSize?: number | undefined;
  commitMode?: CommitMode;
  replaceMode?: CommitMode;
  ifMatchComplete?: 'quoted' | 'bare';
  /** claims.ifMatch: the If-Match form PutObject honours (undefined: none). */
  putIfMatch?: 'quoted' | 'bare' | undefined;
  /** How long a claim held by another writer is waited for (claims.ts's waitMs). */
  claimWaitMs?: number;
  signal?: AbortSignal;
  resume?: { uploadId: string; marker: string | undefined; parts: ResumedPart[] };
  /** The caller's object metadata (S3WriteTarget.metadata). */
  metadata?: Record<string, string>;
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
    replaceMode: options.replaceMode ?? 'check',
    ...(options.ifMatchComplete === undefined ? {} : { ifMatchComplete: options.ifMatchComplete }),
    claims: {
      client: fake.asClient(),
      bucket: 'bucket',
      keyPrefix: 'prefix/',
      leaseMs: 60_000,
      ifMatch: 'putIfMatch' in options ? options.putIfMatch : 'quoted',
      pollMs: 1,
      ...(options.claimWaitMs === undefined ? {} : { waitMs: options.claimWaitMs }),
    },
    singleAttemptClient: fake.asClient(),
    ...(options.resume === undefined ? {} : { resume: options.resume }),
    ...(options.metadata === undefined ? {} : { metadata: options.metadata }),
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

/** What reached the object's key (claims left out), without the part uploads. */
function publishSteps(fake: ScriptedS3): string[] {
  return fake.names().filter((name) => name !== 'CreateMultipartUploadCommand' && name !== 'UploadPartCommand');
}

function publishRequest(fake: ScriptedS3, multipart: boolean): { IfMatch?: string; IfNoneMatch?: string } {
  const name = multipart ? 'CompleteMultipartUploadCommand' : 'PutObjectCommand';
  const sent = fake.named(name);
  expect(sent).toHaveLength(1);
  return (sent[0]!.command as PutObjectCommand | CompleteMultipartUploadCommand).input;
}

async function writeSmall(writer: S3ObjectWriter): Promise<void> {
  await writer.writePart(0, 0, TAIL);
}

describe('replace only if still this version (complete with ifVersion)', () => {
  const VERSION = '"v1"';
  const current = (size: number) => ({ ContentLength: size, ETag: VERSION });

  // commitMode is set to another mode than replaceMode throughout: a rewrite follows replaceMode alone.
  it.each([
    // replaceMode, ifMatchComplete, PutObject's If-Match form, multipart, steps on the object's key, If-Match sent
    ['conditional', 'bare', 'quoted', false, ['HeadObjectCommand', 'PutObjectCommand'], '"v1"'],
    ['conditional', 'bare', 'bare', false, ['HeadObjectCommand', 'PutObjectCommand'], 'v1'],
    ['conditional', 'bare', undefined, false, ['HeadObjectCommand', 'PutObjectCommand'], undefined],
    ['conditional', 'bare', 'quoted', true, ['HeadObjectCommand', 'CompleteMultipartUploadCommand'], 'v1'],
    ['conditional', 'quoted', undefined, true, ['HeadObjectCommand', 'CompleteMultipartUploadCommand'], '"v1"'],
    ['conditional', undefined, 'quoted', true, ['HeadObjectCommand', 'CompleteMultipartUploadCommand'], undefined],
    ['check', 'bare', 'quoted', false, ['HeadObjectCommand', 'PutObjectCommand'], undefined],
    ['check', 'bare', 'quoted', true, ['HeadObjectCommand', 'CompleteMultipartUploadCommand'], undefined],
    // A store whose Complete ignores If-Match: the claim is held around the HEAD check and the publish.
    [
      'claim',
      'bare',
      'quoted',
      false,
      ['claim:PutObjectCommand', 'HeadObjectCommand', 'claim:HeadObjectCommand', 'PutObjectCommand', 'claim:HeadObjectCommand', 'claim:DeleteObjectCommand'],
      '"v1"',
    ],
    [
      'claim',
      'bare',
      'quoted',
      true,
      [
        'claim:PutObjectCommand',
        'HeadObjectCommand',
        'claim:HeadObjectCommand',
        'CompleteMultipartUploadCommand',
        'claim:HeadObjectCommand',
        'claim:DeleteObjectCommand',
      ],
      undefined,
    ],
  ] as const)(
    'replaceMode %s (Complete honours If-Match %s, PutObject %s), multipart %s: the version is checked, then published',
    async (replaceMode, ifMatchComplete, putIfMatch, multipart, steps, ifMatch) => {
      const fake = new ScriptedS3();
      const size = multipart ? MIN_PART_SIZE + TAIL.length : TAIL.length;
      fake.head = current(size);
      const writer = writerFor(fake, {
        expectedSize: multipart ? undefined : TAIL.length,
        commitMode: replaceMode === 'conditional' ? 'check' : 'conditional',
        replaceMode,
        ...(ifMatchComplete === undefined ? {} : { ifMatchComplete }),
        putIfMatch,
      });
      if (multipart) await writeMultipart(writer);
      else await writeSmall(writer);
      const info = await writer.complete({ overwrite: false, ifVersion: VERSION });
      expect(info).toMatchObject({ storedSize: size, version: multipart ? '"complete-etag"' : '"put-etag"' });
      expect(publishSteps(fake)).toEqual(steps);
      const request = publishRequest(fake, multipart);
      expect(request.IfMatch).toBe(ifMatch);
      expect(request.IfNoneMatch).toBeUndefined();
      expect(fake.named('AbortMultipartUploadCommand')).toHaveLength(0);
      expect(fake.claims.size).toBe(0); // a claim taken is released
    },
  );

  it.each([
    ['conditional', false],
    ['conditional', true],
    ['check', false],
    ['check', true],
    ['claim', false],
    ['claim', true],
  ] as const)(
    'replaceMode %s, multipart %s: another version at the key (or none) is SOURCE_CHANGED; nothing is published and the upload is aborted',
    async (replaceMode, multipart) => {
      for (const head of [{ ContentLength: 3, ETag: '"v2"' }, undefined]) {
        const fake = new ScriptedS3();
        fake.head = head;
        const writer = writerFor(fake, {
          expectedSize: multipart ? undefined : TAIL.length,
          replaceMode,
          commitMode: 'conditional',
          ifMatchComplete: 'quoted',
        });
        if (multipart) await writeMultipart(writer);
        else await writeSmall(writer);
        const err = await failure(writer.complete({ overwrite: true, ifVersion: VERSION }));
        expect(err).toBeInstanceOf(CloudlockerError);
        expect(err).toMatchObject({ reason: 'SOURCE_CHANGED', details: { conflict: 'version' } });
        expect((err as Error).message).toContain('"obj" was changed by another writer');
        expect(fake.named('PutObjectCommand')).toHaveLength(0);
        expect(fake.named('CompleteMultipartUploadCommand')).toHaveLength(0);
        expect(fake.named('AbortMultipartUploadCommand')).toHaveLength(multipart ? 1 : 0);
        expect(fake.claims.size).toBe(0);
        // The writer is finished: a second complete() publishes nothing either.
        await expect(writer.complete({ overwrite: true, ifVersion: VERSION })).rejects.toMatchObject({ reason: 'CANCELLED' });
        expect(fake.named('PutObjectCommand')).toHaveLength(0);
      }
    },
  );

  it('claim mode: the version is checked only once the claim is held (no HEAD of the object before the claim)', async () => {
    const fake = new ScriptedS3();
    fake.head = { ContentLength: 3, ETag: '"v2"' };
    const writer = writerFor(fake, { expectedSize: TAIL.length, replaceMode: 'claim', commitMode: 'claim' });
    await writeSmall(writer);
    await expect(writer.complete({ overwrite: true, ifVersion: VERSION })).rejects.toMatchObject({ reason: 'SOURCE_CHANGED' });
    expect(fake.names()).toEqual(['claim:PutObjectCommand', 'HeadObjectCommand', 'claim:HeadObjectCommand', 'claim:DeleteObjectCommand']);
  });

  it.each([
    ['PutObjectCommand', false],
    ['CompleteMultipartUploadCommand', true],
  ] as const)('If-Match refused by the store on %s (the version changed after the check): SOURCE_CHANGED, upload aborted', async (command, multipart) => {
    for (const refusal of [s3Error('PreconditionFailed', 412), s3Error('ConditionalRequestConflict', 409)]) {
      // The check before publishing still sees the version; the store then refuses the publish's
      // If-Match, and the object now at the key is the other writer's (not ours either).
      const fake = new ScriptedS3()
        .on('HeadObjectCommand', () => current(multipart ? MIN_PART_SIZE + TAIL.length : TAIL.length))
        .on(command, () => refusal);
      fake.head = { ContentLength: 1, ETag: '"v3"' };
      const writer = writerFor(fake, { expectedSize: multipart ? undefined : TAIL.length, replaceMode: 'conditional', ifMatchComplete: 'quoted' });
      if (multipart) await writeMultipart(writer);
      else await writeSmall(writer);
      await expect(writer.complete({ overwrite: true, ifVersion: VERSION })).rejects.toMatchObject({ reason: 'SOURCE_CHANGED' });
      expect(fake.named(command)).toHaveLength(1);
      expect(fake.named('AbortMultipartUploadCommand')).toHaveLength(multipart ? 1 : 0);
      await expect(writer.complete({ overwrite: true, ifVersion: VERSION })).rejects.toMatchObject({ reason: 'CANCELLED' });
    }
  });

  it('a HEAD check that fails (not "not found") is a storage error, not SOURCE_CHANGED; the upload is kept and complete() may be retried', async () => {
    const fake = new ScriptedS3().on('HeadObjectCommand', () => s3Error('InternalError', 500));
    fake.head = current(MIN_PART_SIZE + TAIL.length);
    const writer = writerFor(fake, { replaceMode: 'check' });
    await writeMultipart(writer);
    const err = await failure(writer.complete({ overwrite: true, ifVersion: VERSION }));
    expect(err).toMatchObject({ reason: 'STORAGE_UNAVAILABLE' });
    expect((err as Error).message).toContain('while publishing an object');
    expect(fake.named('AbortMultipartUploadCommand')).toHaveLength(0);
    await expect(writer.complete({ overwrite: true, ifVersion: VERSION })).resolves.toMatchObject({ version: '"complete-etag"' });
  });

  it('claim mode: the claim taken over by another writer meanwhile: STORAGE_UNAVAILABLE, nothing published, the upload kept for a retry', async () => {
    const fake = new ScriptedS3().onClaim('HeadObjectCommand', () => ({ ContentLength: 1, ETag: '"someone-else"' }));
    fake.head = current(MIN_PART_SIZE + TAIL.length);
    const writer = writerFor(fake, { replaceMode: 'claim' });
    await writeMultipart(writer);
    const err = await failure(writer.complete({ overwrite: true, ifVersion: VERSION }));
    expect(err).toMatchObject({ reason: 'STORAGE_UNAVAILABLE' });
    expect((err as Error).message).toBe('Another writer took over the claim on "obj" while this one was publishing it; try again.');
    expect(fake.named('CompleteMultipartUploadCommand')).toHaveLength(0);
    expect(fake.named('AbortMultipartUploadCommand')).toHaveLength(0);
    await expect(writer.complete({ overwrite: true, ifVersion: VERSION })).resolves.toMatchObject({ version: '"complete-etag"' });
    expect(fake.named('CompleteMultipartUploadCommand')).toHaveLength(1);
  });

  it('claim mode: a rewriter waits for a claim another writer holds (the name existing is no refusal), then publishes', async () => {
    const fake = new ScriptedS3()
      .onClaim('PutObjectCommand', () => s3Error('PreconditionFailed', 412))
      .onClaim('HeadObjectCommand', () => ({ ContentLength: 1, ETag: '"someone-else"' }));
    fake.head = current(TAIL.length);
    const writer = writerFor(fake, { expectedSize: TAIL.length, replaceMode: 'claim', claimWaitMs: 5_000 });
    await writeSmall(writer);
    await expect(writer.complete({ overwrite: true, ifVersion: VERSION })).resolves.toMatchObject({ version: '"put-etag"' });
    expect(fake.named('claim:PutObjectCommand')).toHaveLength(2);
    expect(fake.named('PutObjectCommand')).toHaveLength(1);
  });

  it('claim mode: the claim\'s owner is this upload\'s marker (multipart), or a fresh 32-hex-digit one (single PUT)', async () => {
    const multipartFake = new ScriptedS3();
    multipartFake.head = current(MIN_PART_SIZE + TAIL.length);
    const multipartWriter = writerFor(multipartFake, { replaceMode: 'claim' });
    await writeMultipart(multipartWriter);
    await multipartWriter.complete({ overwrite: true, ifVersion: VERSION });
    const marker = (multipartFake.named('CreateMultipartUploadCommand')[0]!.command as CreateMultipartUploadCommand).input.Metadata?.[UPLOAD_MARKER_KEY];
    const claimOf = (fake: ScriptedS3) =>
      JSON.parse(String((fake.named('claim:PutObjectCommand')[0]!.command as PutObjectCommand).input.Body)) as { owner?: string };
    expect(marker).toMatch(/^[0-9a-f]{32}$/);
    expect(claimOf(multipartFake).owner).toBe(marker);

    const putFake = new ScriptedS3();
    putFake.head = current(TAIL.length);
    const putWriter = writerFor(putFake, { expectedSize: TAIL.length, replaceMode: 'claim' });
    await writeSmall(putWriter);
    await putWriter.complete({ overwrite: true, ifVersion: VERSION });
    expect(claimOf(putFake).owner).toMatch(/^[0-9a-f]{32}$/);
  });

  it('claim mode: a writer resumed from a token without a marker claims with a fresh 32-hex-digit owner, and publishes', async () => {
    const owners: string[] = [];
    for (const ifVersion of [VERSION, undefined]) {
      const fake = new ScriptedS3();
      fake.head = ifVersion === undefined ? undefined : current(MIN_PART_SIZE);
      const writer = writerFor(fake, {
        commitMode: 'claim',
        replaceMode: 'claim',
        resume: { uploadId: 'legacy', marker: undefined, parts: [{ partIndex: 0, offset: 0, length: MIN_PART_SIZE, receipt: '"p1"' }] },
      });
      const info = await writer.complete({ overwrite: false, ...(ifVersion === undefined ? {} : { ifVersion }) });
      expect(info).toMatchObject({ storedSize: MIN_PART_SIZE, version: '"complete-etag"' });
      expect(writer.resumeToken).toBe('legacy');
      const claim = JSON.parse(String((fake.named('claim:PutObjectCommand')[0]!.command as PutObjectCommand).input.Body)) as { owner?: string };
      expect(claim.owner).toMatch(/^[0-9a-f]{32}$/);
      owners.push(claim.owner!);
      expect(fake.named('claim:DeleteObjectCommand')).toHaveLength(1);
    }
    expect(owners[0]).not.toBe(owners[1]);
  });
});

describe('complete() without a version', () => {
  it('overwrite: no claim, no HEAD, no condition, whatever the modes (the new object replaces any)', async () => {
    for (const multipart of [false, true]) {
      const fake = new ScriptedS3();
      fake.head = { ContentLength: 1, ETag: '"old"' };
      const writer = writerFor(fake, { expectedSize: multipart ? undefined : TAIL.length, commitMode: 'claim', replaceMode: 'claim' });
      if (multipart) await writeMultipart(writer);
      else await writeSmall(writer);
      await writer.complete({ overwrite: true });
      expect(publishSteps(fake)).toEqual([multipart ? 'CompleteMultipartUploadCommand' : 'PutObjectCommand']);
      const request = publishRequest(fake, multipart);
      expect(request.IfMatch).toBeUndefined();
      expect(request.IfNoneMatch).toBeUndefined();
    }
  });

  it('claim mode, the claim held by another writer and the name taken meanwhile: ALREADY_EXISTS at once, the upload aborted', async () => {
    const fake = new ScriptedS3()
      .onClaim('PutObjectCommand', () => s3Error('PreconditionFailed', 412))
      .onClaim('HeadObjectCommand', () => ({ ContentLength: 1, ETag: '"someone-else"' }));
    fake.head = { ContentLength: 1, ETag: '"theirs"' };
    const writer = writerFor(fake, { commitMode: 'claim', claimWaitMs: 300 });
    await writeMultipart(writer);
    await expect(writer.complete({ overwrite: false })).rejects.toMatchObject({ reason: 'ALREADY_EXISTS' });
    expect(fake.named('claim:PutObjectCommand')).toHaveLength(1);
    expect(fake.named('CompleteMultipartUploadCommand')).toHaveLength(0);
    expect(fake.named('AbortMultipartUploadCommand')).toHaveLength(1);
  });

  it('complete() twice: the second is a caller error and publishes nothing; so is one while the first is publishing', async () => {
    const fake = new ScriptedS3();
    const writer = writerFor(fake, { expectedSize: TAIL.length });
    await writeSmall(writer);
    const first = writer.complete({ overwrite: true });
    await expect(writer.complete({ overwrite: true })).rejects.toThrow('complete() on a writer that is completing.');
    await first;
    await expect(writer.complete({ overwrite: true })).rejects.toThrow('complete() on a writer that is completed.');
    await expect(writer.complete({ overwrite: true, ifVersion: '"put-etag"' })).rejects.toThrow('complete() on a writer that is completed.');
    expect(fake.named('PutObjectCommand')).toHaveLength(1);
  });

  it('a multipart upload with no part written (resumed with none) is refused, not published empty', async () => {
    const fake = new ScriptedS3();
    const writer = writerFor(fake, { resume: { uploadId: 'upload-9', marker: 'd'.repeat(32), parts: [] } });
    await expect(writer.complete({ overwrite: true })).rejects.toThrow('Part 0 was never written.');
    expect(fake.named('CompleteMultipartUploadCommand')).toHaveLength(0);
  });
});

describe('copyPart: a range of another object copied inside the store (header rewrites)', () => {
  // The object whose bytes are copied: another key (only the copy request names it), a quoted ETag.
  const source = (change: Partial<CopySource> = {}): CopySource => ({
    name: 'dir/old name',
    key: 'prefix/dir/old name',
    etag: '"abc"',
    ifMatchForm: 'quoted',
    start: 10,
    length: MIN_PART_SIZE,
    ...change,
  });

  it('is UploadPartCopy of exactly the range, only from that version of the source, as part i + 1, and completes with its ETag', async () => {
    for (const [form, ifMatch] of [['quoted', '"abc"'], ['bare', 'abc']] as const) {
      const fake = new ScriptedS3();
      const writer = writerFor(fake);
      await writer.copyPart(0, 0, source({ ifMatchForm: form }));
      expect(fake.names()).toEqual(['CreateMultipartUploadCommand', 'UploadPartCopyCommand']);
      const sent = fake.named('UploadPartCopyCommand')[0]!;
      expect((sent.command as UploadPartCopyCommand).input).toEqual({
        Bucket: 'bucket',
        Key: 'prefix/obj',
        UploadId: 'upload-1',
        PartNumber: 1,
        CopySource: 'bucket/prefix/dir/old%20name',
        CopySourceRange: `bytes=10-${10 + MIN_PART_SIZE - 1}`,
        CopySourceIfMatch: ifMatch,
      });
      expect(sent.signal).toBeInstanceOf(AbortSignal);
      expect(writer.partReceipt(0)).toBe('"copy-1"');
      await writer.writePart(1, MIN_PART_SIZE, TAIL);
      const info = await writer.complete({ overwrite: true });
      expect(info.storedSize).toBe(MIN_PART_SIZE + TAIL.length);
      expect((fake.named('CompleteMultipartUploadCommand')[0]!.command as CompleteMultipartUploadCommand).input.MultipartUpload?.Parts).toEqual([
        { PartNumber: 1, ETag: '"copy-1"' },
        { PartNumber: 2, ETag: '"etag-2"' },
      ]);
    }
  });

  it('a copied last part sets the object\'s size; a copied part before the end does not shrink it', async () => {
    const fake = new ScriptedS3();
    const writer = writerFor(fake);
    await writer.writePart(0, 0, BIG);
    await writer.copyPart(2, 2 * MIN_PART_SIZE, source({ length: 100 }));
    await writer.copyPart(1, MIN_PART_SIZE, source({ start: 0 }));
    const info = await writer.complete({ overwrite: true });
    expect(info.storedSize).toBe(2 * MIN_PART_SIZE + 100);
    expect((fake.named('UploadPartCopyCommand')[0]!.command as UploadPartCopyCommand).input.CopySourceRange).toBe(`bytes=10-109`);
    expect((fake.named('UploadPartCopyCommand')[1]!.command as UploadPartCopyCommand).input.CopySourceRange).toBe(
      `bytes=0-${MIN_PART_SIZE - 1}`,
    );
  });

  it.each([
    ['a negative start', { start: -1 }],
    ['a fractional start', { start: 0.5 }],
    ['a start past 2^53', { start: 2 ** 53 }],
    ['a NaN start', { start: Number.NaN }],
    ['an empty range', { length: 0 }],
    ['a negative length', { length: -5 }],
    ['a fractional length', { length: 1.5 }],
    ['a length past 2^53', { length: 2 ** 53 }],
  ])('%s is a RangeError naming the range, and nothing is sent', async (_label, change) => {
    const fake = new ScriptedS3();
    const bad = source(change);
    await expect(writerFor(fake).copyPart(0, 0, bad)).rejects.toThrow(new RangeError(`Invalid copy range ${bad.start}+${bad.length}.`));
    expect(fake.sent).toEqual([]);
  });

  it('the smallest range (one byte at offset 0) is taken', async () => {
    const fake = new ScriptedS3();
    const writer = writerFor(fake);
    await writer.copyPart(0, 0, source({ start: 0, length: 1 }));
    expect((fake.named('UploadPartCopyCommand')[0]!.command as UploadPartCopyCommand).input.CopySourceRange).toBe('bytes=0-0');
  });

  it.each([
    ['412: the source is another version now', () => s3Error('PreconditionFailed', 412)],
    ['404: the source is gone', () => s3Error('NoSuchKey', 404)],
  ])('%s: SOURCE_CHANGED naming the file', async (_label, answer) => {
    const fake = new ScriptedS3().on('UploadPartCopyCommand', answer);
    const error = await failure(writerFor(fake).copyPart(0, 0, source()));
    expect(error).toBeInstanceOf(CloudlockerError);
    expect(error).toMatchObject({
      reason: 'SOURCE_CHANGED',
      message: 'The remote file "dir/old name" was changed by another writer while it was being rewritten; nothing was changed: read it again and retry.',
      details: { conflict: 'version' },
    });
  });

  it('a 412 after the caller cancelled is the cancel, not SOURCE_CHANGED', async () => {
    const controller = new AbortController();
    const fake = new ScriptedS3().on('UploadPartCopyCommand', () => {
      controller.abort();
      return s3Error('PreconditionFailed', 412);
    });
    await expect(writerFor(fake, { signal: controller.signal }).copyPart(0, 0, source())).rejects.toMatchObject({ reason: 'CANCELLED' });
  });

  it('another failure is a storage error saying it was copying; an answer without an ETag fails the part', async () => {
    const denied = new ScriptedS3().on('UploadPartCopyCommand', () => s3Error('AccessDenied', 403));
    await expect(writerFor(denied).copyPart(0, 0, source())).rejects.toMatchObject({
      reason: 'PERMISSION_DENIED',
      message: expect.stringContaining('while copying a part inside the store (AccessDenied, HTTP 403)'),
    });
    for (const answer of [{}, { CopyPartResult: {} }, { CopyPartResult: { ETag: '' } }]) {
      const fake = new ScriptedS3().on('UploadPartCopyCommand', () => answer);
      const writer = writerFor(fake);
      await expect(writer.copyPart(0, 0, source())).rejects.toMatchObject({
        reason: 'STORAGE_UNAVAILABLE',
        message: expect.stringContaining('while copying a part inside the store'),
      });
      expect(writer.partReceipt(0)).toBeUndefined();
    }
  });

  it('after abort(), after suspend() and once the caller\'s signal is aborted: CANCELLED and nothing sent; after complete() a caller error', async () => {
    const aborted = new ScriptedS3();
    const abortedWriter = writerFor(aborted);
    await abortedWriter.abort();
    await expect(abortedWriter.copyPart(0, 0, source())).rejects.toMatchObject({ reason: 'CANCELLED' });
    expect(aborted.sent).toEqual([]);

    const suspended = new ScriptedS3();
    const suspendedWriter = writerFor(suspended);
    await suspendedWriter.writePart(0, 0, BIG);
    await suspendedWriter.suspend();
    await expect(suspendedWriter.copyPart(1, MIN_PART_SIZE, source())).rejects.toMatchObject({ reason: 'CANCELLED' });
    expect(suspended.named('UploadPartCopyCommand')).toEqual([]);

    const controller = new AbortController();
    const cancelled = new ScriptedS3();
    controller.abort();
    await expect(writerFor(cancelled, { signal: controller.signal }).copyPart(0, 0, source())).rejects.toMatchObject({ reason: 'CANCELLED' });
    expect(cancelled.sent).toEqual([]);

    const completed = writerFor(new ScriptedS3());
    await writeMultipart(completed);
    await completed.complete({ overwrite: true });
    await expect(completed.copyPart(2, 2 * MIN_PART_SIZE, source())).rejects.toThrow('copyPart() on a writer that is completed.');
  });

  it('abort() waits for a copy in flight (cut off by the writer\'s signal) before aborting the upload', async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const fake = new ScriptedS3().on('UploadPartCopyCommand', async () => {
      await held;
      return { CopyPartResult: { ETag: '"late"' } };
    });
    const writer = writerFor(fake);
    const copying = writer.copyPart(0, 0, source()).catch((err: unknown) => err);
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    const aborting = writer.abort();
    await new Promise((resolve) => setImmediate(resolve));
    expect(fake.named('UploadPartCopyCommand')[0]!.signal?.aborted).toBe(true);
    expect(fake.named('AbortMultipartUploadCommand')).toHaveLength(0);
    release();
    await aborting;
    await copying;
    expect(fake.names().slice(-1)).toEqual(['AbortMultipartUploadCommand']);
  });
});

describe('which stage a failure is reported at (PERMISSION_DENIED while writing, not STORAGE_UNAVAILABLE)', () => {
  it.each([
    ['CreateMultipartUploadCommand', 'starting a multipart upload'],
    ['UploadPartCommand', 'uploading a part'],
  ])('a 403 on %s names what was being done', async (command, doing) => {
    const fake = new ScriptedS3().on(command, () => s3Error('AccessDenied', 403));
    const error = await failure(writerFor(fake).writePart(0, 0, BIG));
    expect(error).toMatchObject({
      reason: 'PERMISSION_DENIED',
      message: `The S3 store s3://bucket/prefix refused access while ${doing} (AccessDenied, HTTP 403): check the permissions of the credentials (see docs/storage.md).`,
    });
  });

  it('a 403 on publishing is STORAGE_UNAVAILABLE saying it was publishing (the parts are stored; complete() may be retried)', async () => {
    const fake = new ScriptedS3().on('PutObjectCommand', () => s3Error('AccessDenied', 403));
    const writer = writerFor(fake, { expectedSize: TAIL.length });
    await writeSmall(writer);
    await expect(writer.complete({ overwrite: true })).rejects.toMatchObject({
      reason: 'STORAGE_UNAVAILABLE',
      message: expect.stringContaining('refused access while publishing an object (AccessDenied, HTTP 403)'),
    });
    await expect(writer.complete({ overwrite: true })).resolves.toMatchObject({ version: '"put-etag"' });
  });
});

describe('the object\'s metadata', () => {
  it('a single PUT carries the caller\'s metadata as cl-<key> (no marker: it is known by its ETag), and complete() returns it', async () => {
    const fake = new ScriptedS3();
    const writer = writerFor(fake, { expectedSize: TAIL.length, metadata: { a: '1', tags: 'x y' } });
    await writeSmall(writer);
    const info = await writer.complete({ overwrite: true });
    expect((fake.named('PutObjectCommand')[0]!.command as PutObjectCommand).input.Metadata).toEqual({ 'cl-a': '1', 'cl-tags': 'x y' });
    expect(info).toMatchObject({ name: 'obj', storedSize: TAIL.length, version: '"put-etag"', metadata: { a: '1', tags: 'x y' } });
    expect(info.modifiedAt).toBeInstanceOf(Date);
  });

  it('a multipart upload carries them with the upload\'s marker; without caller metadata only the marker', async () => {
    const fake = new ScriptedS3();
    const writer = writerFor(fake, { metadata: { a: '1' } });
    await writeMultipart(writer);
    const metadata = (fake.named('CreateMultipartUploadCommand')[0]!.command as CreateMultipartUploadCommand).input.Metadata;
    expect(Object.keys(metadata ?? {}).sort()).toEqual(['cl-a', UPLOAD_MARKER_KEY]);
    expect(metadata?.['cl-a']).toBe('1');
    expect((await writer.complete({ overwrite: true })).metadata).toEqual({ a: '1' });

    const plain = new ScriptedS3();
    await writeMultipart(writerFor(plain));
    const plainMetadata = (plain.named('CreateMultipartUploadCommand')[0]!.command as CreateMultipartUploadCommand).input.Metadata;
    expect(Object.keys(plainMetadata ?? {})).toEqual([UPLOAD_MARKER_KEY]);
  });

  it('no metadata at all (a single PUT, none given, or none in an empty object): no Metadata member, none in what complete() returns', async () => {
    for (const metadata of [undefined, {}]) {
      const fake = new ScriptedS3();
      const writer = writerFor(fake, { expectedSize: TAIL.length, ...(metadata === undefined ? {} : { metadata }) });
      await writeSmall(writer);
      const info = await writer.complete({ overwrite: true });
      expect('Metadata' in (fake.named('PutObjectCommand')[0]!.command as PutObjectCommand).input).toBe(false);
      expect('metadata' in info).toBe(false);
    }
  });

  it('a writer resumed from a token without a marker continues its upload (no Create, so no new marker) and keeps a token without one', async () => {
    const fake = new ScriptedS3();
    const writer = writerFor(fake, {
      resume: { uploadId: 'legacy', marker: undefined, parts: [{ partIndex: 0, offset: 0, length: MIN_PART_SIZE, receipt: '"p1"' }] },
    });
    await writer.writePart(1, MIN_PART_SIZE, TAIL);
    expect(fake.names()).toEqual(['UploadPartCommand']);
    expect((fake.named('UploadPartCommand')[0]!.command as UploadPartCommand).input.UploadId).toBe('legacy');
    expect(writer.resumeToken).toBe('legacy');
  });
});

describe('parts in flight when the writer stops', () => {
  /** A writer whose second UploadPart is held until `release()`. */
  async function heldSecondPart(options: WriterOptions = {}) {
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const fake = new ScriptedS3();
    const writer = writerFor(fake, options);
    await writer.writePart(0, 0, BIG);
    fake.on('UploadPartCommand', async () => {
      await held;
      return { ETag: '"late"' };
    });
    const inFlight = writer.writePart(1, MIN_PART_SIZE, BIG).then(
      () => 'resolved',
      (err: unknown) => err,
    );
    await new Promise((resolve) => setImmediate(resolve));
    return { fake, writer, inFlight, release: () => release() };
  }

  it('suspend() cuts off a part in flight and returns only once it settled; the upload is kept', async () => {
    const { fake, writer, inFlight, release } = await heldSecondPart();
    let suspended = false;
    const suspending = writer.suspend().then(() => (suspended = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(fake.named('UploadPartCommand')[1]!.signal?.aborted).toBe(true);
    expect(suspended).toBe(false);
    release();
    await suspending;
    await inFlight;
    expect(fake.named('AbortMultipartUploadCommand')).toHaveLength(0);
    expect(writer.resumeToken).toMatch(/^upload-1 [0-9a-f]{32}$/);
  });

  it('the caller\'s signal reaches every request of the write (a cancel cuts off a part in flight)', async () => {
    const controller = new AbortController();
    const { fake, inFlight, release } = await heldSecondPart({ signal: controller.signal });
    const sent = fake.named('UploadPartCommand')[1]!.signal!;
    expect(sent.aborted).toBe(false);
    controller.abort();
    expect(sent.aborted).toBe(true);
    expect(fake.named('CreateMultipartUploadCommand')[0]!.signal).toBe(fake.named('UploadPartCommand')[0]!.signal);
    release();
    await inFlight;
  });
});

describe('the check before publishing', () => {
  it('HeadObject goes with the caller\'s signal (a cancel stops the check); the publish goes without it', async () => {
    for (const multipart of [false, true]) {
      const controller = new AbortController();
      const fake = new ScriptedS3();
      const writer = writerFor(fake, { expectedSize: multipart ? undefined : TAIL.length, commitMode: 'check', signal: controller.signal });
      if (multipart) await writeMultipart(writer);
      else await writeSmall(writer);
      await writer.complete({ overwrite: false });
      expect(fake.named('HeadObjectCommand')).toHaveLength(1);
      expect((fake.named('HeadObjectCommand')[0]!.command as HeadObjectCommand).input).toEqual({ Bucket: 'bucket', Key: 'prefix/obj' });
      expect(fake.named('HeadObjectCommand')[0]!.signal).toBe(controller.signal);
      expect(fake.named(multipart ? 'CompleteMultipartUploadCommand' : 'PutObjectCommand')[0]!.signal).toBeUndefined();
    }
  });
});

describe('when the multipart upload starts, and stopping before it exists', () => {
  it('an object announced larger than MIN_PART_SIZE starts its multipart upload with the first part (nothing held in memory)', async () => {
    const fake = new ScriptedS3();
    const writer = writerFor(fake, { expectedSize: MIN_PART_SIZE + 1 });
    await writer.writePart(0, 0, BIG);
    expect(fake.names()).toEqual(['CreateMultipartUploadCommand', 'UploadPartCommand']);
  });

  it('suspend() while the upload is still being created is an abort: the upload is aborted once it exists, not left behind', async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const fake = new ScriptedS3().on('CreateMultipartUploadCommand', async () => {
      await held;
      return { UploadId: 'upload-late' };
    });
    const writer = writerFor(fake);
    const writing = writer.writePart(0, 0, BIG).catch((err: unknown) => err);
    await new Promise((resolve) => setImmediate(resolve));
    expect(writer.resumeToken).toBeUndefined();
    const suspending = writer.suspend();
    release();
    await suspending;
    await writing;
    expect(fake.named('AbortMultipartUploadCommand')).toHaveLength(1);
    expect((fake.named('AbortMultipartUploadCommand')[0]!.command as AbortMultipartUploadCommand).input.UploadId).toBe('upload-late');
  });

  it('suspend() after complete() leaves the writer completed (more parts are a caller error, not a cancel)', async () => {
    const fake = new ScriptedS3();
    const writer = writerFor(fake);
    await writeMultipart(writer);
    await writer.complete({ overwrite: true });
    await writer.suspend();
    await expect(writer.writePart(2, 2 * MIN_PART_SIZE, TAIL)).rejects.toThrow('writePart() on a writer that is completed.');
  });
});

describe('If-None-Match refusing a retried Complete', () => {
  /**
   * Complete: a server fault (the upload still listed), then 412. HEAD: no object at the check before
   * publishing nor after the fault, then `after`.
   */
  async function retried(after: (marker: string) => ScriptedS3['head']) {
    const fake = new ScriptedS3()
      .on('CompleteMultipartUploadCommand', () => s3Error('InternalError', 500))
      .on('CompleteMultipartUploadCommand', () => s3Error('PreconditionFailed', 412))
      .on('HeadObjectCommand', () => s3Error('NotFound', 404))
      .on('HeadObjectCommand', () => s3Error('NotFound', 404));
    const writer = writerFor(fake, { commitMode: 'conditional' });
    await writeMultipart(writer);
    const marker = (fake.named('CreateMultipartUploadCommand')[0]!.command as CreateMultipartUploadCommand).input.Metadata![UPLOAD_MARKER_KEY]!;
    fake.head = after(marker);
    const outcome = await writer.complete({ overwrite: false }).catch((err: unknown) => err);
    return { fake, outcome };
  }

  it('meets our own object (the first attempt landed after all): published', async () => {
    const { fake, outcome } = await retried((marker) => ({
      ContentLength: MIN_PART_SIZE + TAIL.length,
      ETag: '"landed"',
      Metadata: { [UPLOAD_MARKER_KEY]: marker },
    }));
    expect(outcome).toMatchObject({ version: '"landed"', storedSize: MIN_PART_SIZE + TAIL.length });
    expect(publishSteps(fake)).toEqual([
      'HeadObjectCommand',
      'CompleteMultipartUploadCommand',
      'HeadObjectCommand',
      'ListPartsCommand',
      'CompleteMultipartUploadCommand',
      'HeadObjectCommand',
    ]);
  });

  it('meets another writer\'s object of the same size: ALREADY_EXISTS, the upload aborted', async () => {
    const { fake, outcome } = await retried(() => ({
      ContentLength: MIN_PART_SIZE + TAIL.length,
      ETag: '"theirs"',
      Metadata: { [UPLOAD_MARKER_KEY]: 'e'.repeat(32) },
    }));
    expect(outcome).toMatchObject({ reason: 'ALREADY_EXISTS' });
    expect(fake.named('AbortMultipartUploadCommand')).toHaveLength(1);
  });

  it('a first attempt refused is another writer\'s object: ALREADY_EXISTS without looking at it', async () => {
    const fake = new ScriptedS3().on('CompleteMultipartUploadCommand', () => s3Error('PreconditionFailed', 412));
    const writer = writerFor(fake, { commitMode: 'conditional' });
    await writeMultipart(writer);
    await expect(writer.complete({ overwrite: false })).rejects.toMatchObject({ reason: 'ALREADY_EXISTS' });
    expect(publishSteps(fake)).toEqual(['HeadObjectCommand', 'CompleteMultipartUploadCommand', 'AbortMultipartUploadCommand']);
  });
});
