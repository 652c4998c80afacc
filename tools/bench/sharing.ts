/**
 * Issue 14's figures, through the service (its own process, RPC timed as a
 * client sees it), in one run:
 *
 * - shareFile of a file against upload of the same file, per store (the local
 *   store, s3rver), alternating: each round uploads the file under a new
 *   name and shares it with one new recipient; the share/upload ratio per
 *   round and its median (targets: <= 2 % local, <= 5 % S3 with server-side
 *   copy; s3rver has no UploadPartCopy and streams, reported apart). Each
 *   share's headerRewrite is recorded.
 * - Transfer RSS with an identity unlocked: the upload of each round runs
 *   once with keyPath while locked and once through the unlocked identity;
 *   the server's peak RSS of both.
 * - unlock of a passphrase-protected identity file and signIn (identity copy,
 *   scrypt at the product's work factor, 2^18): time and the server's
 *   transient memory (peak RSS during the call minus RSS before); then two
 *   unlocks sent at once: if the KDF calls are serialised their wall time is
 *   about twice one unlock and the peak stays about one scrypt's memory.
 *
 *   npm run build && flock /work/notes/bench.lock node dist/tools/bench/sharing.js \
 *     [--size 1GiB] [--rounds 3] [--stores local,s3rver] [--kdf-rounds 2] [--json FILE] [--work-dir DIR]
 *
 * Not here: Ceph RGW (server-side copy): see tools/bench/header-rewrite.ts
 * --store rgw for the store-level rewrite on RGW.
 */
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Args, formatSize } from './lib/cli-args.js';
import { killOnExit } from './lib/children.js';
import { createRandomFile, removePath } from './lib/files.js';
import { Recorder } from './lib/report.js';
import { toMiB, readMemory } from './lib/rss-sampler.js';
import { repoRoot } from './lib/server-process.js';
import { makeWorkDir, measure, openSession, type Session } from './lib/session.js';
import { median } from './lib/stats.js';

const BUCKET = 'cloudlocker-bench';
const PASSPHRASE = 'violet tractor mango harbour 47 quietly';
const args = new Args();
const common = args.common(3);
const size = args.size('size', 1024 ** 3);
const stores = args.string('stores', 'local,s3rver').split(',').filter((s) => s !== '');
const kdfRounds = args.number('kdf-rounds', 2);
for (const store of stores) if (store !== 'local' && store !== 's3rver') throw new Error(`--stores: local or s3rver, not ${store}`);

const workDir = await makeWorkDir(common.workDir, 'cloudlocker-bench-sharing-');
const recorder = new Recorder('sharing: shareFile vs upload, unlock and signIn', workDir, { size, rounds: common.rounds, stores: stores.join(','), kdfRounds });
const source = path.join(workDir, 'source.bin');
await createRandomFile(source, size);

try {
  for (const store of stores) await measureStore(store);
  await measureKdf();
} finally {
  await removePath(workDir);
}

const ratios = (store: string) => recorder.values(`share ÷ upload (${store})`);
for (const store of stores) {
  if (ratios(store).length === 0) continue;
  const target = store === 'local' ? 2 : 5;
  recorder.check(`share ÷ upload, median, ${store}`, median(ratios(store)), '<=', target, ' %');
}
recorder.note('Ratios are per round (share and upload of the same round), so load changes between rounds cancel out.');
await recorder.finish(common.jsonFile);

async function measureStore(store: string): Promise<void> {
  const storeDir = path.join(workDir, `store-${store}`);
  const s3 = store === 's3rver' ? await startS3Server(path.join(workDir, 's3rver')) : undefined;
  const session: Session = await openSession(workDir, {
    dataDir: path.join(workDir, `server-${store}`),
    nodeArgs: common.serverNodeArgs,
    ...(s3 === undefined
      ? { serveArgs: ['--storage', 'local', '--store-dir', storeDir] }
      : {
          env: s3.credentials,
          serveArgs: ['--storage', 's3', '--s3-bucket', BUCKET, '--s3-prefix', 'cloudlocker/', '--s3-endpoint', s3.endpoint, '--s3-force-path-style', '--s3-region', 'us-east-1'],
        }),
  });
  try {
    const { client, server, keyPath } = session;
    for (let round = 0; round < common.rounds; round++) {
      const locked = await measure(server, () => client.call('upload', { path: source, keyPath, name: `locked-${round}.bin`, overwrite: true }));
      recorder.add(`upload, keyPath, locked (${store})`, 's', locked.seconds, size);
      recorder.add(`upload, keyPath, locked (${store}): server peak RSS`, 'MiB', toMiB(locked.serverRss));
      await client.call('deleteFile', { name: `locked-${round}.bin` });

      await client.call('unlock', { keyPath });
      const name = `shared-${round}.bin`;
      const upload = await measure(server, () => client.call('upload', { path: source, name, overwrite: true }));
      recorder.add(`upload, unlocked identity (${store})`, 's', upload.seconds, size);
      recorder.add(`upload, unlocked identity (${store}): server peak RSS`, 'MiB', toMiB(upload.serverRss));
      const friend = await client.call<{ recipient: string }>('createKey', { path: path.join(workDir, `friend-${store}-${round}.key.txt`) });
      const share = await measure(server, () => client.call<{ headerRewrite: string }>('shareFile', { name, with: [friend.recipient] }));
      recorder.add(`shareFile (${store})`, 'ms', share.seconds * 1000);
      recorder.add(`shareFile (${store}): server peak RSS`, 'MiB', toMiB(share.serverRss));
      recorder.add(`share ÷ upload (${store})`, '%', (100 * share.seconds) / upload.seconds);
      recorder.note(`${store} round ${round + 1}: headerRewrite ${share.result.headerRewrite}`);
      await client.call('lock', {});
      await client.call('deleteFile', { name });
    }
  } finally {
    await session.close();
    await s3?.stop();
  }
}

async function measureKdf(): Promise<void> {
  const session = await openSession(workDir, { dataDir: path.join(workDir, 'server-kdf'), nodeArgs: common.serverNodeArgs, keyType: 'X25519' });
  try {
    const { client, server } = session;
    const protectedKey = path.join(workDir, 'protected.key.txt');
    await client.call('createKey', { path: protectedKey, passphrase: PASSPHRASE });
    await client.call('unlock', { keyPath: protectedKey, keyPassphrase: PASSPHRASE });
    await client.call('publishIdentity', { userName: 'bench', passphrase: PASSPHRASE });
    await client.call('lock', {});
    const rssNow = () => readMemory(server.pid)?.rssBytes ?? Number.NaN;
    for (let round = 0; round < kdfRounds; round++) {
      let before = rssNow();
      const unlock = await measure(server, () => client.call('unlock', { keyPath: protectedKey, keyPassphrase: PASSPHRASE }));
      recorder.add('unlock (scrypt 2^18)', 's', unlock.seconds);
      recorder.add('unlock: server transient RSS (peak - before)', 'MiB', toMiB(unlock.serverRss - before));
      await client.call('lock', {});

      const signedInKey = path.join(workDir, `signed-in-${round}.key.txt`);
      before = rssNow();
      const signIn = await measure(server, () => client.call('signIn', { userName: 'bench', passphrase: PASSPHRASE, keyPath: signedInKey }));
      recorder.add('signIn (scrypt 2^18)', 's', signIn.seconds);
      recorder.add('signIn: server transient RSS (peak - before)', 'MiB', toMiB(signIn.serverRss - before));
      await client.call('lock', {});
      await removePath(signedInKey);

      before = rssNow();
      const both = await measure(server, () =>
        Promise.all([
          client.call('unlock', { keyPath: protectedKey, keyPassphrase: PASSPHRASE }),
          client.call('unlock', { keyPath: protectedKey, keyPassphrase: PASSPHRASE }),
        ]),
      );
      recorder.add('two unlocks sent at once', 's', both.seconds);
      recorder.add('two unlocks at once ÷ one unlock', 'x', both.seconds / unlock.seconds);
      recorder.add('two unlocks at once: server transient RSS (peak - before)', 'MiB', toMiB(both.serverRss - before));
      await client.call('lock', {});
    }
    recorder.note('KDF calls are serialised when two unlocks at once take about twice one (x ≈ 2) and their transient RSS stays about one scrypt\'s (≈ 256 MiB at 2^18), not two.');
  } finally {
    await session.close();
  }
}

interface BenchStore {
  readonly endpoint: string;
  readonly credentials: Record<string, string>;
  stop(): Promise<void>;
}

/** s3rver in a process of its own (tools/s3-server.ts), as s3-throughput.ts runs it. */
async function startS3Server(directory: string): Promise<BenchStore> {
  await mkdir(directory, { recursive: true });
  const script = path.join(repoRoot(), 'dist', 'tools', 's3-server.js');
  const child = killOnExit(spawn(process.execPath, [script, '0', '--bucket', BUCKET, '--directory', directory], { stdio: ['ignore', 'pipe', 'inherit'] }));
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
    credentials: { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' },
    async stop() {
      child.kill('SIGINT');
      await exited;
    },
  };
}
