/**
 * A throwaway Ceph RADOS Gateway (a real S3 implementation) for tests, and
 * S3 storages that talk to it.
 *
 * tools/ceph-s3.sh starts a one-node Ceph cluster (one monitor, one memstore
 * OSD, radosgw) on 127.0.0.1 with free ports and all of its state in a new
 * temporary directory; stop() stops exactly those daemons and removes the
 * directory. It needs the Debian packages ceph-mon, ceph-osd and radosgw
 * (.ci/run installs them). Without them startRgw() REJECTS with a message
 * saying so: an RGW target fails loudly rather than passing without having
 * run (leave the RGW files out knowingly with
 * `--testPathIgnorePatterns rgw`, see docs/storage.md).
 *
 * Nothing about RGW is declared to the backend: it finds what the store can
 * do by probing at init(), as it would against any S3-compatible store.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { createS3Storage, type S3StorageConfig, type S3StorageHooks } from '../../src/storage/s3/index.js';
import type { Storage } from '../../src/storage/storage.js';
import { TEST_BUCKET } from './s3rver.js';

const run = promisify(execFile);
const STARTER = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'tools', 'ceph-s3.sh');

export interface RunningRgw {
  readonly endpoint: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** Stop the cluster and remove its directory. */
  stop(): Promise<void>;
  /** An outage of the S3 endpoint: radosgw stops (the data stays). */
  stopGateway(): Promise<void>;
  /** radosgw again, on the same port. */
  startGateway(): Promise<void>;
}

export interface StartRgwOptions {
  readonly buckets?: readonly string[];
  /**
   * What the memstore OSD may hold (it keeps data in RAM, about 2-2.5x what
   * is stored, and HANGS writes when nearly full). Default 2 GiB: the suites
   * delete what they write, and 2 GiB leaves room for the garbage collector's
   * minute of delay.
   */
  readonly memstoreBytes?: number;
}

export async function startRgw(options: StartRgwOptions = {}): Promise<RunningRgw> {
  const directory = await mkdtemp(path.join(tmpdir(), 'cloudlocker-rgw-'));
  const env = {
    ...process.env,
    CEPH_S3_MEMSTORE_BYTES: String(options.memstoreBytes ?? 2 * 1024 ** 3),
  };
  const script = (...args: string[]) => run('bash', [STARTER, ...args], { env, maxBuffer: 1024 * 1024 });
  let stdout: string;
  try {
    ({ stdout } = await script('start', directory));
  } catch (err) {
    await rm(directory, { recursive: true, force: true });
    const stderr = (err as { stderr?: string }).stderr ?? String(err);
    throw new Error(
      'The Ceph RGW test target could not start, so the RGW tests cannot run. ' +
        'Install the Debian packages (apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw curl), ' +
        `or leave the RGW files out knowingly (--testPathIgnorePatterns rgw).\n${stderr.slice(-3000)}`,
    );
  }
  const settings = new Map(
    stdout
      .split('\n')
      .map((line) => line.split('='))
      .filter((pair) => pair.length >= 2)
      .map(([key, ...value]) => [key!, value.join('=')]),
  );
  const endpoint = settings.get('endpoint')!;
  const credentials = { accessKeyId: settings.get('access_key')!, secretAccessKey: settings.get('secret_key')! };
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials });
  try {
    for (const bucket of options.buckets ?? [TEST_BUCKET]) await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    await script('stop', directory, '--purge').catch(() => undefined);
    throw err;
  } finally {
    client.destroy();
  }
  return {
    endpoint,
    credentials,
    async stop() {
      await script('stop', directory, '--purge');
    },
    async stopGateway() {
      await script('gateway-stop', directory);
    },
    async startGateway() {
      await script('gateway-start', directory);
    },
  };
}

export type TestRgwStorageOptions = Partial<Omit<S3StorageConfig, 'kind' | 'endpoint' | 'credentials'>>;

/** An S3 storage on the given RGW: path-style, us-east-1, nothing declared, few attempts (as for s3rver). */
export function createTestRgwStorage(rgw: RunningRgw, options: TestRgwStorageOptions = {}, hooks: S3StorageHooks = {}): Storage {
  return createS3Storage(
    {
      kind: 's3',
      bucket: TEST_BUCKET,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: rgw.credentials,
      maxAttempts: 3,
      connectTimeoutMs: 5_000,
      idleTimeoutMs: 20_000,
      ...options,
      endpoint: rgw.endpoint,
    },
    hooks,
  );
}
