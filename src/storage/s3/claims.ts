/**
 * Name claims: atomic no-overwrite on stores whose CompleteMultipartUpload
 * ignores `If-None-Match: *` (Ceph RGW 16.2) but whose PutObject honours it.
 *
 * A writer publishing with overwrite: false first takes the name's claim: a
 * small object at `<prefix>cloudlocker\claim\<sha256(name)>`, created with a
 * conditional PUT (`If-None-Match: *`), which the store lets exactly one
 * writer create. Holding it, the writer checks that the name is free,
 * publishes (Complete, or a conditional PUT), and deletes the claim. Every
 * overwrite: false publish of the name goes through the claim, so two of them
 * never run between check and publish at once.
 *
 * - A writer that finds the claim taken waits: the holder either publishes
 *   (the name is then taken: ALREADY_EXISTS) or fails and releases it (the
 *   waiter takes it and goes on).
 * - A holder that crashed leaves the claim behind. A claim whose ETag stayed
 *   the same for `leaseMs` of the waiter's own clock (no clocks compared) is
 *   stale: the waiter replaces it with `If-Match: <that ETag>`, which exactly
 *   one waiter (of a third, fourth...) achieves. No name stays blocked longer
 *   than the lease.
 * - The window left: a holder that stalls for longer than the lease between
 *   its last check of its claim and the end of its publish request can
 *   publish after a waiter took the claim over; both are then told success.
 *   The default lease (60 s) is far beyond the few requests a holder makes.
 * - Writers with overwrite: true take no claim (they may replace anything).
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeleteObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { CloudlockerError } from '../../errors.js';
import { isConditionalConflict, isObjectNotFound, isPreconditionFailed } from './errors.js';
import { ifMatchValue, RESERVED_FOLDER } from './probe.js';

export const CLAIM_FOLDER = `${RESERVED_FOLDER}claim\\`;

export interface ClaimTarget {
  readonly client: S3Client;
  readonly bucket: string;
  readonly keyPrefix: string;
  /** A claim unchanged this long is stale. */
  readonly leaseMs: number;
  /**
   * How the store wants If-Match (probe.ts); undefined: it honours none, and
   * a stale claim cannot be taken over safely: it then blocks its name until
   * removed by hand (init() warns).
   */
  readonly ifMatch: 'quoted' | 'bare' | undefined;
  /** How often a waiter looks again. */
  readonly pollMs?: number;
  /** How long a waiter waits for the claim at most; default 2 × leaseMs. */
  readonly waitMs?: number;
}

export interface HeldClaim {
  /** Still ours (not taken over as stale)? */
  stillHeld(): Promise<boolean>;
  /**
   * Delete it if still ours. Never rejects. Skipped (the claim left to go
   * stale) once half a lease has passed since the claim was written: a
   * waiter may by then be taking it over, and HEAD-then-DELETE would delete
   * the new owner's claim.
   */
  release(): Promise<void>;
}

export function claimKeyOf(keyPrefix: string, name: string): string {
  return `${keyPrefix}${CLAIM_FOLDER}${createHash('sha256').update(name, 'utf8').digest('hex')}`;
}

/**
 * Take the claim of `name`. `nameTaken` is asked while waiting: once it
 * answers true (the holder published), acquire rejects with it (the caller
 * then reports ALREADY_EXISTS) instead of waiting for the claim's release.
 */
export async function acquireClaim(
  target: ClaimTarget,
  name: string,
  owner: string,
  nameTaken: () => Promise<boolean>,
  signal?: AbortSignal,
): Promise<HeldClaim | 'name-taken'> {
  const { client, bucket } = target;
  const key = claimKeyOf(target.keyPrefix, name);
  const body = JSON.stringify({ owner, at: new Date().toISOString() });
  const pollMs = target.pollMs ?? Math.min(250, Math.max(20, Math.floor(target.leaseMs / 20)));
  let seen: { etag: string; since: number } | undefined;
  const waitMs = target.waitMs ?? 2 * target.leaseMs;
  const giveUpAt = performance.now() + waitMs;
  const options = signal === undefined ? {} : { abortSignal: signal };

  const put = async (condition: { IfNoneMatch: '*' } | { IfMatch: string }): Promise<string | undefined> => {
    try {
      const result = await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ...condition }), options);
      // || rather than ??: an empty ETag (RGW answers some requests with one) is no ETag.
      return result.ETag || ((await headEtag()) ?? '');
    } catch (err) {
      if (isPreconditionFailed(err) || isConditionalConflict(err) || isObjectNotFound(err)) return undefined;
      throw err;
    }
  };
  // Once held, the claim is checked and released without the signal: a publish under way must be able to finish.
  const headEtag = async (withSignal = true): Promise<string | undefined> => {
    try {
      return (await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), withSignal ? options : {})).ETag ?? '';
    } catch (err) {
      if (isObjectNotFound(err)) return undefined;
      throw err;
    }
  };

  for (;;) {
    signal?.throwIfAborted();
    let writtenAt = performance.now();
    let etag = await put({ IfNoneMatch: '*' });
    if (etag === undefined) {
      const current = await headEtag();
      if (current !== undefined) {
        const now = performance.now();
        if (seen === undefined || seen.etag !== current) seen = { etag: current, since: now };
        else if (now - seen.since >= target.leaseMs && target.ifMatch !== undefined) {
          writtenAt = performance.now();
          etag = await put({ IfMatch: ifMatchValue(target.ifMatch, current) }); // take over a stale claim; one taker wins
          seen = undefined;
        }
      }
    }
    if (etag !== undefined) {
      const mine = etag;
      const safeToDelete = () => performance.now() - writtenAt < target.leaseMs / 2;
      return {
        stillHeld: async () => (await headEtag(false)) === mine,
        release: async () => {
          try {
            if (safeToDelete() && (await headEtag(false)) === mine && safeToDelete()) {
              await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
            }
          } catch {
            // Left behind, it is stale after the lease: the next writer waits that long once.
          }
        },
      };
    }
    if (await nameTaken()) return 'name-taken';
    if (performance.now() + pollMs > giveUpAt) {
      throw new CloudlockerError(
        'STORAGE_UNAVAILABLE',
        `Waited ${Math.round(waitMs / 1000)} s for another writer to publish or release the name "${name}", which it holds; try again later.`,
        { details: { waitedMs: waitMs } },
      );
    }
    await sleep(pollMs, undefined, signal === undefined ? undefined : { signal });
  }
}
