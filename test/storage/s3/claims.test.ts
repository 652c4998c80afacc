/**
 * Name claims (claims.ts), their use by S3ObjectWriter.complete() and the
 * If-Match probe (probe.ts), against a fake S3 client: the races and store
 * quirks at stake (an If-Match the store ignores, an empty ETag, a claim
 * taken over mid-publish) cannot be produced on demand by a real server.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { acquireClaim, claimKeyOf, type ClaimTarget } from '../../../src/storage/s3/claims.js';
import { MIN_PART_SIZE, S3ObjectWriter } from '../../../src/storage/s3/object-writer.js';
import { probeStore } from '../../../src/storage/s3/probe.js';

function s3Error(name: string, status: number): Error {
  return Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
}

interface FakeOptions {
  /** How If-Match is honoured: 'ignored' accepts any value. */
  ifMatch?: 'quoted' | 'bare' | 'ignored';
  /** PutObject answers with an empty ETag (HeadObject has the real one). */
  emptyPutEtag?: boolean;
  /** Called on each HeadObject of a key, before it is answered. */
  onHead?: (key: string, fake: FakeS3) => void;
  /** UploadPartCopy: absent (501, as s3rver), honouring CopySourceIfMatch (quoted), or ignoring it. */
  copy?: 'honoured' | 'ignored' | 'wrong-range';
}

/** Objects by key, each with a fresh quoted ETag per write; multipart is minimal. */
class FakeS3 {
  readonly objects = new Map<string, string>();
  readonly bodies = new Map<string, string>();
  private readonly copiedParts = new Map<number, string>();
  readonly sent: string[] = [];
  private writes = 0;
  constructor(private readonly options: FakeOptions = {}) {}

  asClient(): S3Client {
    return this as unknown as S3Client;
  }

  newEtag(): string {
    return `"${(++this.writes).toString(16).padStart(32, 'a')}"`;
  }

  async send(command: unknown, sendOptions?: { abortSignal?: AbortSignal }): Promise<unknown> {
    sendOptions?.abortSignal?.throwIfAborted();
    this.sent.push((command as object).constructor.name);
    if (command instanceof PutObjectCommand) {
      const { Key, IfNoneMatch, IfMatch } = command.input;
      const current = this.objects.get(Key!);
      if (IfNoneMatch === '*' && current !== undefined) throw s3Error('PreconditionFailed', 412);
      if (IfMatch !== undefined && this.options.ifMatch !== 'ignored') {
        if (current === undefined) throw s3Error('NoSuchKey', 404);
        const expected = this.options.ifMatch === 'bare' ? current.slice(1, -1) : current;
        if (IfMatch !== expected) throw s3Error('PreconditionFailed', 412);
      }
      const etag = command.input.Body === 'probe' && current !== undefined ? current : this.newEtag();
      this.objects.set(Key!, etag);
      if (typeof command.input.Body === 'string') this.bodies.set(Key!, command.input.Body);
      return { ETag: this.options.emptyPutEtag === true ? '' : etag };
    }
    if (command instanceof HeadObjectCommand) {
      this.options.onHead?.(command.input.Key!, this);
      const etag = this.objects.get(command.input.Key!);
      if (etag === undefined) throw s3Error('NotFound', 404);
      return { ETag: etag, ContentLength: 1 };
    }
    if (command instanceof DeleteObjectCommand) {
      this.objects.delete(command.input.Key!);
      return {};
    }
    if (command instanceof CreateMultipartUploadCommand) return { UploadId: 'upload-1' };
    if (command instanceof UploadPartCommand) return { ETag: `"part-${command.input.PartNumber}"` };
    if (command instanceof CompleteMultipartUploadCommand) {
      const etag = this.newEtag();
      this.objects.set(command.input.Key!, etag);
      const parts = command.input.MultipartUpload?.Parts ?? [];
      this.bodies.set(command.input.Key!, parts.map((part) => this.copiedParts.get(part.PartNumber!) ?? '').join(''));
      return { ETag: etag };
    }
    if (command instanceof GetObjectCommand) {
      const body = this.bodies.get(command.input.Key!);
      if (body === undefined) throw s3Error('NoSuchKey', 404);
      return { Body: { transformToString: async () => body } };
    }
    if (command instanceof UploadPartCopyCommand && this.options.copy !== undefined) {
      const { CopySource, CopySourceRange, CopySourceIfMatch, PartNumber } = command.input;
      const sourceKey = decodeURIComponent(CopySource!.slice(CopySource!.indexOf('/') + 1));
      const [, from, to] = /^bytes=(\d+)-(\d+)$/.exec(CopySourceRange!)!;
      if (this.options.copy === 'honoured' && CopySourceIfMatch !== this.objects.get(sourceKey)) throw s3Error('PreconditionFailed', 412);
      const shift = this.options.copy === 'wrong-range' ? 1 : 0;
      this.copiedParts.set(PartNumber!, (this.bodies.get(sourceKey) ?? '').slice(Number(from) + shift, Number(to) + 1 + shift));
      return { CopyPartResult: { ETag: `"copy-${PartNumber}"` } };
    }
    if (command instanceof AbortMultipartUploadCommand) return {};
    // As s3rver: no server-side ranged copy (the probe then settles on streamed header rewrites).
    if (command instanceof UploadPartCopyCommand) throw s3Error('NotImplemented', 501);
    throw new Error(`unexpected command ${String((command as object).constructor.name)}`);
  }
}

const claimsOn = (fake: FakeS3, extra: Partial<ClaimTarget> = {}): ClaimTarget => ({
  client: fake.asClient(),
  bucket: 'bucket',
  keyPrefix: 'prefix/',
  leaseMs: 60_000,
  ifMatch: 'bare',
  pollMs: 10,
  ...extra,
});

function claimWriter(fake: FakeS3, options: { signal?: AbortSignal; claims?: Partial<ClaimTarget>; size?: number } = {}): S3ObjectWriter {
  return new S3ObjectWriter({
    client: fake.asClient(),
    bucket: 'bucket',
    key: 'prefix/obj',
    name: 'obj',
    location: 's3://bucket/prefix',
    expectedSize: options.size ?? 10,
    signal: options.signal,
    commitMode: 'claim',
    replaceMode: 'claim',
    claims: claimsOn(fake, options.claims),
    singleAttemptClient: fake.asClient(),
  });
}

/** Settles with the outcome, or 'still waiting' after `ms`: a wait without bound shows as such, not as a hung test. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | unknown> {
  return Promise.race([
    promise.then(
      () => 'resolved',
      (err: unknown) => err,
    ),
    new Promise((resolve) => setTimeout(() => resolve('still waiting'), ms).unref()),
  ]);
}

describe('the If-Match probe', () => {
  const probe = (fake: FakeS3) =>
    probeStore({ client: fake.asClient(), bucket: 'bucket', keyPrefix: 'prefix/', location: 's3://bucket/prefix', warn: () => undefined });

  it('records no If-Match for a store that ignores it (a wrong ETag is accepted too)', async () => {
    const found = await probe(new FakeS3({ ifMatch: 'ignored' }));
    expect(found.conditionalPut).toBe(true);
    expect(found.ifMatch).toBeUndefined();
  });

  it('records server-side ranged copy where the range read back is right, and whether CopySourceIfMatch is honoured', async () => {
    expect((await probe(new FakeS3({ ifMatch: 'bare', copy: 'honoured' }))).copy).toEqual({ ifMatch: 'quoted', ifMatchHonoured: true });
    expect((await probe(new FakeS3({ ifMatch: 'bare', copy: 'ignored' }))).copy).toEqual({ ifMatch: 'quoted', ifMatchHonoured: false });
    expect((await probe(new FakeS3({ ifMatch: 'bare', copy: 'wrong-range' }))).copy).toBeUndefined();
    expect((await probe(new FakeS3({ ifMatch: 'bare' }))).copy).toBeUndefined();
  });

  it('records the form a store honours: bare (RGW 16.2) or quoted (AWS)', async () => {
    expect((await probe(new FakeS3({ ifMatch: 'bare' }))).ifMatch).toBe('bare');
    expect((await probe(new FakeS3({ ifMatch: 'quoted' }))).ifMatch).toBe('quoted');
  });
});

describe('acquireClaim', () => {
  it('an empty ETag from the claim PUT is no ETag: the claim is read back and known as held', async () => {
    const fake = new FakeS3({ emptyPutEtag: true });
    const claim = await acquireClaim(claimsOn(fake), 'obj', 'me', async () => false);
    if (claim === 'name-taken') throw new Error('unexpected');
    await expect(claim.stillHeld()).resolves.toBe(true);
  });

  it('a waiter gives up after its deadline with STORAGE_UNAVAILABLE naming the name', async () => {
    const fake = new FakeS3();
    // Held by another writer, and no If-Match: it never goes stale for this waiter.
    fake.objects.set(claimKeyOf('prefix/', 'report.pdf'), fake.newEtag());
    const outcome = await within(
      acquireClaim(claimsOn(fake, { leaseMs: 100, ifMatch: undefined }), 'report.pdf', 'me', async () => false),
      2_000,
    );
    expect(outcome).toMatchObject({ reason: 'STORAGE_UNAVAILABLE' });
    expect((outcome as Error).message).toContain('"report.pdf"');
  });

  it('a waiter stops waiting when its signal is aborted', async () => {
    const fake = new FakeS3();
    fake.objects.set(claimKeyOf('prefix/', 'obj'), fake.newEtag());
    const cancel = new AbortController();
    const outcome = within(acquireClaim(claimsOn(fake, { ifMatch: undefined }), 'obj', 'me', async () => false, cancel.signal), 2_000);
    setTimeout(() => cancel.abort(), 50);
    await expect(outcome).resolves.toMatchObject({ name: 'AbortError' });
  });

  it('release() past half a lease leaves the claim (a waiter may own it by then) instead of deleting it', async () => {
    const fake = new FakeS3();
    const claim = await acquireClaim(claimsOn(fake, { leaseMs: 100 }), 'obj', 'me', async () => false);
    if (claim === 'name-taken') throw new Error('unexpected');
    await new Promise((resolve) => setTimeout(resolve, 60));
    await claim.release();
    expect(fake.sent).not.toContain('DeleteObjectCommand');
    expect(fake.objects.has(claimKeyOf('prefix/', 'obj'))).toBe(true);
  });

  it('release() in time deletes the claim', async () => {
    const fake = new FakeS3();
    const claim = await acquireClaim(claimsOn(fake), 'obj', 'me', async () => false);
    if (claim === 'name-taken') throw new Error('unexpected');
    await claim.release();
    expect(fake.objects.has(claimKeyOf('prefix/', 'obj'))).toBe(false);
  });
});

describe('complete() with a name claim', () => {
  it('cancelling a writer that waits for the claim ends the wait with CANCELLED', async () => {
    const fake = new FakeS3();
    fake.objects.set(claimKeyOf('prefix/', 'obj'), fake.newEtag());
    const cancel = new AbortController();
    const writer = claimWriter(fake, { signal: cancel.signal });
    await writer.writePart(0, 0, new Uint8Array(10));
    const outcome = within(writer.complete({ overwrite: false }), 2_000);
    setTimeout(() => cancel.abort(), 50);
    await expect(outcome).resolves.toMatchObject({ reason: 'CANCELLED' });
  });

  it('a claim taken over mid-publish is a retryable STORAGE_UNAVAILABLE and the upload is kept', async () => {
    const claimKey = claimKeyOf('prefix/', 'obj');
    const fake = new FakeS3({
      // Right after the name check, another writer takes the claim over.
      onHead: (key, store) => {
        if (key === 'prefix/obj' && store.objects.has(claimKey)) store.objects.set(claimKey, store.newEtag());
      },
    });
    const writer = claimWriter(fake, { size: MIN_PART_SIZE + 1 });
    await writer.writePart(0, 0, new Uint8Array(MIN_PART_SIZE));
    await writer.writePart(1, MIN_PART_SIZE, new Uint8Array(1));
    await expect(writer.complete({ overwrite: false })).rejects.toMatchObject({ reason: 'STORAGE_UNAVAILABLE' });
    expect(fake.sent).not.toContain('AbortMultipartUploadCommand');
    expect(fake.sent).not.toContain('CompleteMultipartUploadCommand');
    expect(writer.resumeToken).toMatch(/^upload-1 /);
  });

  it('a name taken while holding the claim is still ALREADY_EXISTS', async () => {
    const fake = new FakeS3();
    fake.objects.set('prefix/obj', fake.newEtag());
    const writer = claimWriter(fake);
    await writer.writePart(0, 0, new Uint8Array(10));
    await expect(writer.complete({ overwrite: false })).rejects.toMatchObject({ reason: 'ALREADY_EXISTS' });
  });
});
