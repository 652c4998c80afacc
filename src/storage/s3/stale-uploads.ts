/**
 * Cleaning up multipart uploads that a crashed run left behind. Their parts
 * are invisible but billed until aborted.
 *
 * ListMultipartUploads shows neither metadata nor who started an upload in a
 * way that survives across tools, so ownership is by place and age: every
 * upload under the store's prefix belongs to cloudlocker (the prefix is
 * dedicated to it, see docs/storage.md), and only uploads started more than
 * `staleUploadAgeMs` ago are aborted, so that a long upload by another
 * cloudlocker sharing the prefix survives.
 */
import { AbortMultipartUploadCommand, ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';
import { isNoSuchUpload, isRefusal, summariseS3Error, toStorageError } from './errors.js';

/** Enough for any leftover a person would accumulate; bounds the time init() takes. */
const MAX_LISTING_PAGES = 100;

export interface StaleUploadCleanup {
  readonly client: S3Client;
  readonly bucket: string;
  readonly keyPrefix: string;
  readonly location: string;
  readonly staleUploadAgeMs: number;
  /** Upload ids never to abort: unfinished transfers the journal will resume. */
  readonly keepUploadIds?: ReadonlySet<string>;
  readonly now: Date;
  readonly warn: (message: string) => void;
}

export interface StaleUploadReport {
  readonly aborted: number;
  /** The server refused to list or abort (s3rver; missing permission): nothing more was tried. */
  readonly refused: boolean;
}

/**
 * Aborts stale uploads under the prefix. A server that refuses the calls is
 * tolerated with a warning; an unreachable one or a missing bucket rejects
 * with STORAGE_UNAVAILABLE.
 */
export async function abortStaleUploads(cleanup: StaleUploadCleanup): Promise<StaleUploadReport> {
  const { client, bucket, keyPrefix, location } = cleanup;
  const cutoff = cleanup.now.getTime() - cleanup.staleUploadAgeMs;
  let aborted = 0;
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  const refused = (err: unknown, doing: string): StaleUploadReport => {
    cleanup.warn(
      `Could not clean up unfinished uploads in ${location}: the server refused ${doing} (${summariseS3Error(err).code}). ` +
        'Their parts may keep using space; a bucket lifecycle rule can remove them.',
    );
    return { aborted, refused: true };
  };

  for (let page = 0; page < MAX_LISTING_PAGES; page++) {
    let listing;
    try {
      listing = await client.send(
        new ListMultipartUploadsCommand({
          Bucket: bucket,
          Prefix: keyPrefix === '' ? undefined : keyPrefix,
          KeyMarker: keyMarker,
          UploadIdMarker: uploadIdMarker,
        }),
      );
    } catch (err) {
      if (isRefusal(err)) return refused(err, 'to list them');
      throw toStorageError(err, { location, doing: 'listing unfinished uploads', stage: 'read' });
    }
    for (const upload of listing.Uploads ?? []) {
      if (upload.Key === undefined || upload.UploadId === undefined || upload.Initiated === undefined) continue;
      if (upload.Initiated.getTime() > cutoff) continue;
      if (cleanup.keepUploadIds?.has(upload.UploadId) === true) continue;
      try {
        await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: upload.Key, UploadId: upload.UploadId }));
        aborted++;
      } catch (err) {
        if (isNoSuchUpload(err)) continue; // finished or aborted meanwhile
        if (isRefusal(err)) return refused(err, 'to abort them');
        throw toStorageError(err, { location, doing: 'aborting unfinished uploads', stage: 'read' });
      }
    }
    if (listing.IsTruncated !== true) break;
    keyMarker = listing.NextKeyMarker;
    uploadIdMarker = listing.NextUploadIdMarker;
    if (keyMarker === undefined) break;
  }
  return { aborted, refused: false };
}
