import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { TEST_BUCKET } from './s3rver.js';

/** Writes the object `key` again, same bytes, with raw user metadata `cl-<key>` (what a tampering store could hand back). */
export async function plantS3Metadata(client: S3Client, key: string, metadata: Record<string, string>): Promise<void> {
  const current = await client.send(new GetObjectCommand({ Bucket: TEST_BUCKET, Key: key }));
  const body = await current.Body!.transformToByteArray();
  const raw = Object.fromEntries(Object.entries(metadata).map(([k, v]) => [`cl-${k}`, v]));
  await client.send(new PutObjectCommand({ Bucket: TEST_BUCKET, Key: key, Body: body, Metadata: raw }));
}
