/**
 * S3ObjectWriter.complete() when CompleteMultipartUpload's answer is lost
 * and the retry finds no upload (NoSuchUpload): the object at the key is
 * taken as ours only if it carries this upload's marker, not merely our
 * size. Against a fake S3 client (no server reproduces a lost answer on
 * demand), and against s3rver for the marker reaching the object, also
 * after a resume.
 */
import { randomBytes } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  ListPartsCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { CloudlockerError } from '../../../src/errors.js';
import { MIN_PART_SIZE, parseResumeToken, S3ObjectWriter, UPLOAD_MARKER_KEY } from '../../../src/storage/s3/object-writer.js';
import type { ResumedPart } from '../../../src/storage/storage.js';
import { createTestS3Storage, S3RVER_CREDENTIALS, startS3rver, TEST_BUCKET } from '../../helpers/s3rver.js';

/** An object as HeadObject describes it. */
interface StoredObject {
  size: number;
  metadata: Record<string, string>;
}

/**
 * Just the calls a multipart write makes. CompleteMultipartUpload does what
 * `onComplete` says to the store, then answers NoSuchUpload: what the
 * writer sees when the first attempt's answer was lost and the SDK retried.
 */
class LostAnswerS3 {
  object: StoredObject | undefined;
  createdMetadata: Record<string, string> | undefined;
  completions = 0;

  constructor(private readonly onComplete: (fake: LostAnswerS3, size: number) => void) {}

  asClient(): S3Client {
    return this as unknown as S3Client;
  }

  async send(command: unknown): Promise<unknown> {
    if (command instanceof CreateMultipartUploadCommand) {
      this.createdMetadata = { ...command.input.Metadata };
      return { UploadId: 'upload-1' };
    }
    if (command instanceof UploadPartCommand) return { ETag: `"etag-${command.input.PartNumber}"` };
    if (command instanceof HeadObjectCommand) {
      if (this.object === undefined) throw s3Error('NotFound', 404);
      return { ContentLength: this.object.size, Metadata: this.object.metadata, ETag: '"whatever-2"' };
    }
    if (command instanceof CompleteMultipartUploadCommand) {
      this.completions++;
      this.onComplete(this, OBJECT_SIZE);
      throw s3Error('NoSuchUpload', 404);
    }
    if (command instanceof AbortMultipartUploadCommand) throw s3Error('NoSuchUpload', 404);
    throw new Error(`unexpected command ${String((command as object).constructor.name)}`);
  }
}

function s3Error(name: string, status: number): Error {
  return Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
}

const OBJECT_SIZE = MIN_PART_SIZE + 100;
const data = randomBytes(OBJECT_SIZE);

function writerFor(fake: LostAnswerS3, resume?: { uploadId: string; marker: string | undefined; parts: ResumedPart[] }): S3ObjectWriter {
  return new S3ObjectWriter({
    client: fake.asClient(),
    bucket: 'bucket',
    key: 'prefix/obj',
    name: 'obj',
    location: 's3://bucket/prefix',
    expectedSize: OBJECT_SIZE,
    signal: undefined,
    commitMode: 'conditional',
    replaceMode: 'check',
    claims: { client: fake.asClient(), bucket: 'bucket', keyPrefix: 'prefix/', leaseMs: 60_000, ifMatch: 'quoted' },
    singleAttemptClient: fake.asClient(),
    ...(resume === undefined ? {} : { resume }),
  });
}

async function writeBoth(writer: S3ObjectWriter): Promise<void> {
  await writer.writePart(0, 0, data.subarray(0, MIN_PART_SIZE));
  await writer.writePart(1, MIN_PART_SIZE, data.subarray(MIN_PART_SIZE));
}

/** The first attempt landed: the object is ours, with the metadata the upload was created with. */
const landed = (fake: LostAnswerS3, size: number) => {
  fake.object = { size, metadata: { ...fake.createdMetadata } };
};

/** Our upload was aborted (by someone else) and someone else's object of exactly our size sits at the key. */
const foreign = (metadata: Record<string, string>) => (fake: LostAnswerS3) => {
  fake.object = { size: OBJECT_SIZE, metadata };
};

describe('complete() after NoSuchUpload (a lost CompleteMultipartUpload answer)', () => {
  it('tags each multipart upload with its own random marker, which its resumeToken carries', async () => {
    const one = new LostAnswerS3(landed);
    const two = new LostAnswerS3(landed);
    const first = writerFor(one);
    const second = writerFor(two);
    await first.writePart(0, 0, data.subarray(0, MIN_PART_SIZE));
    await second.writePart(0, 0, data.subarray(0, MIN_PART_SIZE));
    const marker = one.createdMetadata?.[UPLOAD_MARKER_KEY];
    expect(marker).toMatch(/^[0-9a-f]{32}$/);
    expect(two.createdMetadata?.[UPLOAD_MARKER_KEY]).not.toBe(marker);
    expect(first.resumeToken).toBe(`upload-1 ${marker}`);
    expect(parseResumeToken(first.resumeToken!)).toEqual({ uploadId: 'upload-1', marker });
    await first.abort();
    await second.abort();
  });

  it('accepts the object at the key when it carries our marker', async () => {
    const fake = new LostAnswerS3(landed);
    const writer = writerFor(fake);
    await writeBoth(writer);
    await expect(writer.complete({ overwrite: true })).resolves.toMatchObject({ name: 'obj', storedSize: OBJECT_SIZE });
  });

  it.each([
    ['another upload\'s marker', { [UPLOAD_MARKER_KEY]: 'f'.repeat(32) }],
    ['no marker at all', {}],
  ])('refuses an object of the same size with %s: the upload failed', async (_label, metadata) => {
    const fake = new LostAnswerS3(foreign(metadata));
    const writer = writerFor(fake);
    await writeBoth(writer);
    const err = await writer.complete({ overwrite: true }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CloudlockerError);
    expect((err as CloudlockerError).reason).toBe('STORAGE_UNAVAILABLE');
    expect((err as CloudlockerError).details).toMatchObject({ s3Code: 'NoSuchUpload' });
    await writer.abort();
  });

  it('a writer resumed from its resumeToken still knows its marker', async () => {
    const before = new LostAnswerS3(landed);
    const interrupted = writerFor(before);
    await interrupted.writePart(0, 0, data.subarray(0, MIN_PART_SIZE));
    const token = interrupted.resumeToken!;
    const part0: ResumedPart = { partIndex: 0, offset: 0, length: MIN_PART_SIZE, receipt: interrupted.partReceipt(0)! };
    const marker = before.createdMetadata![UPLOAD_MARKER_KEY]!;

    // The store holds what the upload was created with (the fake of the second run has not seen it).
    const ours = new LostAnswerS3((fake, size) => (fake.object = { size, metadata: { [UPLOAD_MARKER_KEY]: marker } }));
    const resumed = writerFor(ours, { ...parseResumeToken(token), parts: [part0] });
    expect(resumed.resumeToken).toBe(token);
    await resumed.writePart(1, MIN_PART_SIZE, data.subarray(MIN_PART_SIZE));
    await expect(resumed.complete({ overwrite: true })).resolves.toMatchObject({ storedSize: OBJECT_SIZE });

    const theirs = new LostAnswerS3(foreign({ [UPLOAD_MARKER_KEY]: 'a'.repeat(32) }));
    const resumedAgain = writerFor(theirs, { ...parseResumeToken(token), parts: [part0] });
    await resumedAgain.writePart(1, MIN_PART_SIZE, data.subarray(MIN_PART_SIZE));
    await expect(resumedAgain.complete({ overwrite: true })).rejects.toMatchObject({ reason: 'STORAGE_UNAVAILABLE' });
  });

  it('a token from before markers (the upload id alone) resumes, its object known by size as before', async () => {
    expect(parseResumeToken('2~legacy.Upload-Id_0123')).toEqual({ uploadId: '2~legacy.Upload-Id_0123', marker: undefined });
    const fake = new LostAnswerS3(foreign({}));
    const writer = writerFor(fake, { uploadId: 'legacy-id', marker: undefined, parts: [{ partIndex: 0, offset: 0, length: MIN_PART_SIZE, receipt: '"e"' }] });
    expect(writer.resumeToken).toBe('legacy-id');
    await writer.writePart(1, MIN_PART_SIZE, data.subarray(MIN_PART_SIZE));
    await expect(writer.complete({ overwrite: true })).resolves.toMatchObject({ storedSize: OBJECT_SIZE });
  });
});

/**
 * Ceph RGW 16.2's answers: CompleteMultipartUpload on a gone upload is a 500
 * InternalError (not NoSuchUpload), ListParts on one NoSuchKey, and a
 * successful Complete carries an empty ETag.
 */
class RgwLikeS3 {
  completions = 0;
  listParts = 0;
  object: StoredObject | undefined;
  createdMetadata: Record<string, string> | undefined;

  constructor(private readonly script: { uploadGone: boolean; failFirstCompletes: number }) {}

  asClient(): S3Client {
    return this as unknown as S3Client;
  }

  async send(command: unknown): Promise<unknown> {
    if (command instanceof CreateMultipartUploadCommand) {
      this.createdMetadata = { ...command.input.Metadata };
      return { UploadId: 'upload-1' };
    }
    if (command instanceof UploadPartCommand) return { ETag: `"etag-${command.input.PartNumber}"` };
    if (command instanceof HeadObjectCommand) {
      if (this.object === undefined) throw s3Error('NotFound', 404);
      return { ContentLength: this.object.size, Metadata: this.object.metadata, ETag: '"rgw-etag-2"' };
    }
    if (command instanceof ListPartsCommand) {
      this.listParts++;
      if (this.script.uploadGone) throw s3Error('NoSuchKey', 404);
      return { Parts: [] };
    }
    if (command instanceof CompleteMultipartUploadCommand) {
      this.completions++;
      if (this.script.uploadGone || this.completions <= this.script.failFirstCompletes) throw s3Error('InternalError', 500);
      this.object = { size: OBJECT_SIZE, metadata: { ...this.createdMetadata } };
      return { ETag: '' };
    }
    if (command instanceof AbortMultipartUploadCommand) return {};
    throw new Error(`unexpected command ${String((command as object).constructor.name)}`);
  }
}

function rgwWriter(fake: RgwLikeS3): S3ObjectWriter {
  return new S3ObjectWriter({
    client: fake.asClient(),
    bucket: 'bucket',
    key: 'prefix/obj',
    name: 'obj',
    location: 's3://bucket/prefix',
    expectedSize: OBJECT_SIZE,
    signal: undefined,
    commitMode: 'conditional',
    replaceMode: 'check',
    claims: { client: fake.asClient(), bucket: 'bucket', keyPrefix: 'prefix/', leaseMs: 60_000, ifMatch: 'bare' },
    singleAttemptClient: fake.asClient(),
  });
}

describe('complete() against Ceph RGW 16.2 answers', () => {
  it('a 500 on an upload that is gone (ListParts: NoSuchKey) fails at once, not retried, not taken for success', async () => {
    const fake = new RgwLikeS3({ uploadGone: true, failFirstCompletes: 0 });
    const writer = rgwWriter(fake);
    await writer.writePart(0, 0, data.subarray(0, MIN_PART_SIZE));
    await writer.writePart(1, MIN_PART_SIZE, data.subarray(MIN_PART_SIZE));
    const started = Date.now();
    const err = await writer.complete({ overwrite: true }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ reason: 'STORAGE_UNAVAILABLE', details: { s3Code: 'NoSuchUpload' } });
    expect((err as Error).message).toMatch(/no longer holds this upload/);
    expect(fake.completions).toBe(1);
    expect(Date.now() - started).toBeLessThan(1_000);
    await writer.abort();
  });

  it('a passing 500 on an upload that still exists is retried, and the empty ETag is read with HeadObject', async () => {
    const fake = new RgwLikeS3({ uploadGone: false, failFirstCompletes: 1 });
    const writer = rgwWriter(fake);
    await writer.writePart(0, 0, data.subarray(0, MIN_PART_SIZE));
    await writer.writePart(1, MIN_PART_SIZE, data.subarray(MIN_PART_SIZE));
    await expect(writer.complete({ overwrite: true })).resolves.toMatchObject({ storedSize: OBJECT_SIZE, version: '"rgw-etag-2"' });
    expect(fake.completions).toBe(2);
    expect(fake.listParts).toBe(1);
  });
});

describe('the upload marker on s3rver', () => {
  it('reaches the completed object, also when the upload was resumed from its token', async () => {
    const server = await startS3rver();
    const storage = createTestS3Storage(server.endpoint, { prefix: 'marker' });
    const raw = new S3Client({
      endpoint: server.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: S3RVER_CREDENTIALS,
    });
    try {
      const writer = await storage.beginWrite('obj', { expectedSize: OBJECT_SIZE });
      await writer.writePart(0, 0, data.subarray(0, MIN_PART_SIZE));
      const token = writer.resumeToken!;
      const receipt = writer.partReceipt!(0)!;
      const resumed = await storage.resumeWrite('obj', token, {
        parts: [{ partIndex: 0, offset: 0, length: MIN_PART_SIZE, receipt }],
        expectedSize: OBJECT_SIZE,
      });
      expect(resumed.resumeToken).toBe(token);
      await resumed.writePart(1, MIN_PART_SIZE, data.subarray(MIN_PART_SIZE));
      await resumed.complete({ overwrite: false });
      const head = await raw.send(new HeadObjectCommand({ Bucket: TEST_BUCKET, Key: 'marker/obj' }));
      expect(head.Metadata).toEqual({ [UPLOAD_MARKER_KEY]: parseResumeToken(token).marker });
      expect(head.ContentLength).toBe(OBJECT_SIZE);
    } finally {
      raw.destroy();
      await storage.close();
      await server.stop();
    }
  });
});
