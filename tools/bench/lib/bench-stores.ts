/**
 * The S3 stores the benchmarks run against, each started for the run and
 * stopped after it: s3rver (tools/s3-server.ts, in a process of its own) and
 * a throwaway Ceph RADOS Gateway (tools/ceph-s3.sh; Debian's ceph-mon
 * ceph-osd radosgw). RGW's memstore OSD keeps data in RAM (~2-2.5x what is
 * stored) and hangs writes when nearly full: its capacity is given by the
 * caller, and deleted data is collected after 5 s.
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { killOnExit } from './children.js';
import { run } from './peers.js';
import { repoRoot } from './server-process.js';

export interface BenchStore {
  readonly endpoint: string;
  /** The process whose CPU time a bench may record (s3rver; radosgw). */
  readonly pid: number;
  /** RGW's object store daemon (ceph-osd), which serves every byte radosgw sends. */
  readonly osdPid?: number;
  readonly credentials: { readonly AWS_ACCESS_KEY_ID: string; readonly AWS_SECRET_ACCESS_KEY: string };
  stop(): Promise<void>;
}

/** `cloudlocker serve` arguments for `bucket` on `store`. */
export function s3ServeArgs(store: BenchStore, bucket: string, prefix = 'cloudlocker/'): string[] {
  return ['--storage', 's3', '--s3-bucket', bucket, '--s3-prefix', prefix, '--s3-endpoint', store.endpoint, '--s3-force-path-style', '--s3-region', 'us-east-1'];
}

export async function startRgw(directory: string, bucket: string, memstoreBytes: number): Promise<BenchStore> {
  const script = path.join(repoRoot(), 'tools', 'ceph-s3.sh');
  const env = { ...process.env, CEPH_S3_MEMSTORE_BYTES: String(Math.ceil(memstoreBytes)), CEPH_S3_GC_SECONDS: '5' };
  const settings = Object.fromEntries(
    (await run('bash', [script, 'start', directory], env))
      .trim()
      .split('\n')
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  ) as Record<string, string>;
  const credentials = { AWS_ACCESS_KEY_ID: settings['access_key']!, AWS_SECRET_ACCESS_KEY: settings['secret_key']! };
  const endpoint = settings['endpoint']!;
  const stop = async () => void (await run('bash', [script, 'stop', directory, '--purge'], env));
  try {
    const { S3Client, CreateBucketCommand } = await import('@aws-sdk/client-s3');
    const client = new S3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: credentials.AWS_ACCESS_KEY_ID, secretAccessKey: credentials.AWS_SECRET_ACCESS_KEY },
    });
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    client.destroy();
    const pidOf = async (name: string) => Number((await readFile(path.join(directory, 'pids', `${name}.pid`), 'utf8')).trim());
    return { endpoint, pid: await pidOf('rgw'), osdPid: await pidOf('osd.0'), credentials, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export async function startS3Server(directory: string, bucket: string): Promise<BenchStore> {
  await mkdir(directory, { recursive: true });
  const script = path.join(repoRoot(), 'dist', 'tools', 's3-server.js');
  const child = killOnExit(
    spawn(process.execPath, [script, '0', '--bucket', bucket, '--directory', directory], { stdio: ['ignore', 'pipe', 'inherit'] }),
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const endpoint = await new Promise<string>((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const match = /listening on (http:\/\/[^\s]+)/.exec(text);
      if (match !== null) resolve(match[1] as string);
    });
    child.once('exit', (code) => reject(new Error(`s3-server exited with ${code}`)));
  });
  return {
    endpoint,
    pid: child.pid as number,
    credentials: { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' },
    async stop() {
      child.kill('SIGINT');
      await exited;
    },
  };
}
