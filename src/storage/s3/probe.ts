/**
 * What an S3-compatible store can do, found by trying it at init() rather
 * than by the product's name or version (which servers report loosely, and
 * which change under a deployment).
 *
 * Each probe is a few requests on one throwaway key under the prefix, in the
 * reserved folder list() never shows (see PROBE_FOLDER), removed afterwards:
 *
 * - conditionalPut: a PutObject with `If-None-Match: *` on a key that exists
 *   is refused (412, or 409 when AWS sees a race). AWS, MinIO and RGW 16.2
 *   refuse it; s3rver 3.7 ignores the header and replaces the object.
 * - conditionalComplete: a CompleteMultipartUpload with `If-None-Match: *` on
 *   a key that exists is refused. AWS does; RGW 16.2 ignores the header and
 *   silently replaces the object; so does s3rver.
 * - abortMultipart: AbortMultipartUpload works (s3rver answers 405).
 * - ifMatch: how a PutObject's `If-Match` must carry the ETag to be honoured:
 *   "quoted" as S3 hands ETags out (AWS), or "bare", without the quotes
 *   (Ceph RGW 16.2 answers 412 to the quoted form of the current ETag);
 *   honoured means the current ETag is accepted AND a wrong one refused with
 *   412 in that form; undefined otherwise (a store that ignores the header). Name claims need it to take over a stale
 *   claim.
 * - completeIfMatch: the same for CompleteMultipartUpload's `If-Match` (a
 *   wrong ETag refused, the current one accepted): AWS honours it (quoted);
 *   RGW 16.2 and s3rver ignore it. rewriteHeader then publishes with it.
 * - copy: UploadPartCopy with CopySourceRange copies exactly that range
 *   (read back after Complete): rewriteHeader then copies the payload
 *   inside the store; and whether CopySourceIfMatch is honoured (a wrong
 *   ETag refused with 412: AWS) or ignored (Ceph RGW 16.2). s3rver answers
 *   501; rewriteHeader then streams the payload.
 */
import { randomBytes } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { isConditionalConflict, isPreconditionFailed, isRefusal, summariseS3Error, toStorageError } from './errors.js';

/**
 * Keys cloudlocker keeps for itself under the prefix. A backslash can never
 * be in an object name (names.ts), so list() skips these keys and no name
 * can collide with them.
 */
export const RESERVED_FOLDER = 'cloudlocker\\';
export const PROBE_FOLDER = `${RESERVED_FOLDER}probe\\`;

export interface S3Probe {
  readonly conditionalPut: boolean;
  readonly conditionalComplete: boolean;
  readonly abortMultipart: boolean;
  readonly ifMatch: 'quoted' | 'bare' | undefined;
  readonly completeIfMatch: 'quoted' | 'bare' | undefined;
  /**
   * Server-side ranged copy (UploadPartCopy with CopySourceRange), with the
   * CopySourceIfMatch form it accepts and whether it honours it (AWS) or
   * ignores it (Ceph RGW 16.2); undefined: none (s3rver).
   */
  readonly copy: { readonly ifMatch: 'quoted' | 'bare'; readonly ifMatchHonoured: boolean } | undefined;
}

/** The If-Match header value for `etag` (as S3 returns it, quoted) in the form the store honours. */
export function ifMatchValue(form: 'quoted' | 'bare', etag: string): string {
  const bare = etag.replace(/^"(.*)"$/, '$1');
  return form === 'bare' ? bare : `"${bare}"`;
}

/** x-amz-copy-source: "bucket/key", URL-encoded segment by segment. */
export function copySourceOf(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

export interface ProbeTarget {
  readonly client: S3Client;
  readonly bucket: string;
  readonly keyPrefix: string;
  readonly location: string;
  readonly warn: (message: string) => void;
}

/** Rejects with STORAGE_UNAVAILABLE when the store cannot be reached or the bucket is missing. */
export async function probeStore(target: ProbeTarget): Promise<S3Probe> {
  const { client, bucket, location } = target;
  const key = `${target.keyPrefix}${PROBE_FOLDER}${randomBytes(12).toString('hex')}`;
  const failed = (err: unknown, doing: string) => toStorageError(err, { location, doing, stage: 'read' });
  const refusedCondition = (err: unknown) => isPreconditionFailed(err) || isConditionalConflict(err);

  // 1. The key comes into existence (conditionally where the store allows it).
  let conditionalPut = false;
  let etag: string | undefined;
  try {
    etag = (await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'probe', IfNoneMatch: '*' }))).ETag;
  } catch (err) {
    if (!isRefusal(err) && summariseS3Error(err).status !== 400) throw failed(err, 'probing the store');
    try {
      etag = (await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'probe' }))).ETag;
    } catch (second) {
      if (isRefusal(second)) {
        target.warn(
          `Could not probe ${location} (writing a probe object was refused: ${summariseS3Error(second).code}); ` +
            'assuming no conditional writes: overwrite: false is checked, not enforced atomically.',
        );
        return {
          conditionalPut: false,
          conditionalComplete: false,
          abortMultipart: true,
          ifMatch: undefined,
          completeIfMatch: undefined,
          copy: undefined,
        };
      }
      throw failed(second, 'probing the store');
    }
  }
  try {
    // 2. A second conditional PUT must be refused.
    try {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'probe-2', IfNoneMatch: '*' }));
    } catch (err) {
      if (refusedCondition(err)) conditionalPut = true;
      else if (!isRefusal(err) && summariseS3Error(err).status !== 400) throw failed(err, 'probing the store');
    }

    // 3. If-Match with the current ETag must be accepted (the same body: the ETag stays),
    //    and, in the form accepted, If-Match with a wrong ETag refused: a store that
    //    ignores If-Match accepts both, and would let two waiters take over one stale claim.
    let ifMatch: S3Probe['ifMatch'];
    const putIfMatch = async (value: string): Promise<boolean> => {
      try {
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'probe', IfMatch: value }));
        return true;
      } catch (err) {
        if (!refusedCondition(err) && !isRefusal(err) && summariseS3Error(err).status !== 400) throw failed(err, 'probing the store');
        return false;
      }
    };
    for (const form of ['quoted', 'bare'] as const) {
      if (!conditionalPut || etag === undefined) break;
      if (!(await putIfMatch(ifMatchValue(form, etag)))) continue;
      const wrong = ifMatchValue(form, etag.replace(/[0-9a-f]/i, (c) => (c === '0' ? '1' : '0')));
      try {
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'probe', IfMatch: wrong }));
      } catch (err) {
        if (isPreconditionFailed(err)) ifMatch = form;
        else if (!refusedCondition(err) && !isRefusal(err) && summariseS3Error(err).status !== 400) throw failed(err, 'probing the store');
      }
      break; // the matching form was accepted: the wrong one decided it
    }

    // 4. A conditional CompleteMultipartUpload on the existing key must be refused too.
    let conditionalComplete = false;
    let abortMultipart = true;
    let uploadId: string | undefined;
    try {
      uploadId = (await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }))).UploadId;
      if (uploadId === undefined) throw new Error('CreateMultipartUpload answered without an UploadId');
      const part = await client.send(
        new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: 1, Body: 'p', ContentLength: 1 }),
      );
      try {
        await client.send(
          new CompleteMultipartUploadCommand({
            Bucket: bucket,
            Key: key,
            UploadId: uploadId,
            MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
            IfNoneMatch: '*',
          }),
        );
        uploadId = undefined; // completed: the header was ignored
      } catch (err) {
        if (refusedCondition(err)) conditionalComplete = true;
        else if (!isRefusal(err) && summariseS3Error(err).status !== 400) throw err;
      }
      // 5. Abort: the refused upload's, or a new one's.
      uploadId ??= (await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }))).UploadId;
      try {
        await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
      } catch (err) {
        if (!isRefusal(err)) throw err;
        abortMultipart = false;
      }
    } catch (err) {
      if (!isRefusal(err)) throw failed(err, 'probing multipart uploads');
      conditionalComplete = false;
    }
    const copy = await probeUploadPartCopy(target, key, `${key}-copy`).catch((err: unknown) => {
      throw failed(err, 'probing server-side copies');
    });
    const completeIfMatch = await probeCompleteIfMatch(target, key, abortMultipart).catch((err: unknown) => {
      throw failed(err, 'probing conditional multipart completion');
    });
    return { conditionalPut, conditionalComplete, abortMultipart, ifMatch, completeIfMatch, copy };
  } finally {
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })).catch(() => undefined);
  }
}

/** A refusal of what was asked: the store does not offer it (as opposed to being unreachable). */
function notOffered(err: unknown): boolean {
  return isRefusal(err) || summariseS3Error(err).status === 400 || isPreconditionFailed(err) || isConditionalConflict(err);
}

/**
 * UploadPartCopy of bytes 1..4 of a fresh source object into a new upload
 * at `copyKey`, completed and read back: the ranged copy works if those
 * bytes arrive. Then, in an upload of its own (RGW 16.2 refuses to complete
 * an upload holding a part it is not given), a copy with a wrong
 * CopySourceIfMatch: honoured if refused with 412 (AWS), ignored if
 * accepted (RGW 16.2). Resolves with the CopySourceIfMatch form accepted and
 * whether it is honoured, or undefined when the store has no usable ranged
 * copy (s3rver: 501).
 */
async function probeUploadPartCopy(
  target: ProbeTarget,
  sourceKey: string,
  copyKey: string,
): Promise<S3Probe['copy']> {
  const { client, bucket } = target;
  const sourceEtag = (await client.send(new PutObjectCommand({ Bucket: bucket, Key: sourceKey, Body: 'source-of-copy' }))).ETag;
  if (!sourceEtag) return undefined;
  const copySource = copySourceOf(bucket, sourceKey);
  const uploads: string[] = [];
  const newUpload = async (): Promise<string | undefined> => {
    const uploadId = (await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: copyKey }))).UploadId;
    if (uploadId !== undefined) uploads.push(uploadId);
    return uploadId;
  };
  const copyPart = async (uploadId: string, ifMatch: string) =>
    (
      await client.send(
        new UploadPartCopyCommand({
          Bucket: bucket,
          Key: copyKey,
          UploadId: uploadId,
          PartNumber: 1,
          CopySource: copySource,
          CopySourceRange: 'bytes=1-4',
          CopySourceIfMatch: ifMatch,
        }),
      )
    ).CopyPartResult?.ETag;
  try {
    const uploadId = await newUpload();
    if (uploadId === undefined) return undefined;
    let form: 'quoted' | 'bare' | undefined;
    let partEtag: string | undefined;
    for (const candidate of ['quoted', 'bare'] as const) {
      try {
        partEtag = await copyPart(uploadId, ifMatchValue(candidate, sourceEtag));
        form = candidate;
        break;
      } catch (err) {
        if (!notOffered(err)) throw err;
      }
    }
    if (form === undefined || !partEtag) return undefined;
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: copyKey,
        UploadId: uploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: partEtag }] },
      }),
    );
    uploads.splice(uploads.indexOf(uploadId), 1);
    const copied = await client.send(new GetObjectCommand({ Bucket: bucket, Key: copyKey }));
    if (((await copied.Body?.transformToString()) ?? '') !== 'ourc') return undefined;

    const wrong = ifMatchValue(form, sourceEtag.replace(/[0-9a-f]/i, (c) => (c === '0' ? '1' : '0')));
    const second = await newUpload();
    if (second === undefined) return undefined;
    let ifMatchHonoured = false;
    try {
      await copyPart(second, wrong);
    } catch (err) {
      if (isPreconditionFailed(err)) ifMatchHonoured = true;
      else if (!notOffered(err)) throw err;
    }
    return { ifMatch: form, ifMatchHonoured };
  } catch (err) {
    if (notOffered(err)) return undefined;
    throw err;
  } finally {
    for (const uploadId of uploads) {
      await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: copyKey, UploadId: uploadId })).catch(() => undefined);
    }
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: copyKey })).catch(() => undefined);
  }
}

/**
 * CompleteMultipartUpload with `If-Match`: a wrong ETag must be refused
 * (412) and the current one accepted. Resolves with the form accepted, or
 * undefined (the header ignored or refused in both forms).
 */
async function probeCompleteIfMatch(target: ProbeTarget, key: string, canAbort: boolean): Promise<'quoted' | 'bare' | undefined> {
  const { client, bucket } = target;
  const currentEtag = (await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'complete-if-match' }))).ETag;
  if (!currentEtag) return undefined;
  const wrongEtag = currentEtag.replace(/[0-9a-f]/i, (c) => (c === '0' ? '1' : '0'));
  const tryComplete = async (ifMatch: string): Promise<boolean> => {
    const uploadId = (await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }))).UploadId;
    if (uploadId === undefined) throw new Error('CreateMultipartUpload answered without an UploadId');
    try {
      const part = await client.send(
        new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: 1, Body: 'c', ContentLength: 1 }),
      );
      await client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
          IfMatch: ifMatch,
        }),
      );
      return true;
    } catch (err) {
      if (canAbort) await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId })).catch(() => undefined);
      if (notOffered(err)) return false;
      throw err;
    }
  };
  for (const form of ['quoted', 'bare'] as const) {
    // A store that ignores the header completes with a wrong ETag: the object then changed, and no form is honoured.
    if (await tryComplete(ifMatchValue(form, wrongEtag))) return undefined;
    if (await tryComplete(ifMatchValue(form, currentEtag))) return form;
  }
  return undefined;
}
