/**
 * Issue 14's sharing figures, through the service (its own process, RPC
 * timed as a client sees it), in one run:
 *
 * - per store (--store local|s3rver|rgw, several comma-separated), alternating
 *   per round: upload a file under a new name, shareFile it with one new
 *   recipient, unshareFile it again (a full re-encryption); the share ÷
 *   upload and unshare ÷ upload ratios per round and their medians (targets:
 *   share <= 2 % local, <= 5 % on S3 with server-side copy, i.e. RGW; s3rver
 *   has no UploadPartCopy and streams: reported apart, no target). Each
 *   share's headerRewrite is noted. On S3 stores also a CopyObject of the same
 *   stored object alone (the store's cheapest copy, which cannot change a
 *   byte): what the store itself costs for a copy.
 * - The server's peak RSS during each upload, share and unshare (transfer RSS
 *   unchanged: the transfers keep <= 150 MiB); with --locked-upload also an
 *   upload with keyPath while locked against one through the unlocked identity.
 * - --kdf-rounds N (default 2; 0 skips): unlock of a passphrase-protected
 *   identity file and signIn (identity copy, scrypt 2^18): time and the
 *   server's transient memory (peak RSS during the call minus RSS before);
 *   then two unlocks sent at once: if the KDF calls are serialised their wall
 *   time is about twice one unlock and the peak stays about one scrypt's.
 *
 *   npm run build && flock /work/notes/bench.lock node dist/tools/bench/sharing.js \
 *     [--store local|s3rver|rgw[,...]] [--size 1GiB] [--rounds 3] [--locked-upload] [--kdf-rounds 2]
 *     [--baseline-build DIR] [--json FILE] [--work-dir DIR]
 *
 * --baseline-build DIR: another build (its dist/, package.json, node_modules)
 * run on the same store in the same rounds, right after this one, for a
 * before/after figure (series labelled "<store>, baseline").
 *
 * rgw: a throwaway Ceph RADOS Gateway (tools/ceph-s3.sh) started for the run
 * and stopped after it; its memstore OSD is sized for three objects of
 * --size (RAM: ~2.5x what is stored), and every object is deleted after its
 * round.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Args } from './lib/cli-args.js';
import { s3ServeArgs, startRgw, startS3Server, type BenchStore } from './lib/bench-stores.js';
import { createRandomFile, removePath } from './lib/files.js';
import { Recorder } from './lib/report.js';
import { toMiB, readMemory } from './lib/rss-sampler.js';
import { makeWorkDir, measure, openSession, type Session } from './lib/session.js';
import { median } from './lib/stats.js';

const BUCKET = 'cloudlocker-bench';
const PREFIX = 'cloudlocker/';
const PASSPHRASE = 'violet tractor mango harbour 47 quietly';
const STORES = ['local', 's3rver', 'rgw'] as const;
type StoreKind = (typeof STORES)[number];
/** Share ÷ upload targets (issue 14); s3rver streams and is reported apart. */
const SHARE_TARGET_PERCENT: Partial<Record<StoreKind, number>> = { local: 2, rgw: 5 };
/** The transfers' server peak RSS target (s3-throughput, server-memory). */
const TRANSFER_RSS_MIB = 150;

const args = new Args();
const common = args.common(3);
const size = args.size('size', 1024 ** 3);
const stores = args
  .string('store', 'local')
  .split(',')
  .filter((s) => s !== '');
const kdfRounds = args.number('kdf-rounds', 2);
const lockedUpload = args.flag('locked-upload');
const baselineBuild = args.string('baseline-build');
for (const store of stores) if (!(STORES as readonly string[]).includes(store)) throw new Error(`--store: ${STORES.join(', ')}; not ${store}`);

const workDir = await makeWorkDir(common.workDir, 'cloudlocker-bench-sharing-');
const recorder = new Recorder('sharing: shareFile and unshareFile vs upload, unlock and signIn', workDir, {
  size,
  rounds: common.rounds,
  stores: stores.join(','),
  lockedUpload,
  kdfRounds,
  ...(baselineBuild === undefined ? {} : { baselineBuild }),
});
const source = path.join(workDir, 'source.bin');
await createRandomFile(source, size);

try {
  for (const store of stores as StoreKind[]) await measureStore(store);
  if (kdfRounds > 0) await measureKdf();
} finally {
  await removePath(workDir);
}

for (const store of stores as StoreKind[]) {
  for (const label of baselineBuild === undefined ? [store] : [store, `${store}, baseline`]) {
    const shares = recorder.values(`share ÷ upload (${label})`);
    if (shares.length === 0) continue;
    const target = SHARE_TARGET_PERCENT[store];
    if (target === undefined) recorder.figure(`share ÷ upload, median, ${label} (streamed, no target)`, median(shares), ' %');
    else recorder.check(`share ÷ upload, median, ${label}`, median(shares), '<=', target, ' %');
    recorder.figure(`unshare ÷ upload, median, ${label}`, median(recorder.values(`unshare ÷ upload (${label})`)), ' %');
    const copies = recorder.values(`CopyObject alone ÷ upload (${label})`);
    if (copies.length > 0) recorder.figure(`CopyObject alone ÷ upload, median, ${label}`, median(copies), ' %');
    const shareRss = recorder.values(`shareFile (${label}): server peak RSS`);
    recorder.check(`shareFile: server peak RSS, highest round, ${label}`, Math.max(...shareRss), '<=', TRANSFER_RSS_MIB, ' MiB');
  }
}
recorder.note('Ratios are per round (share, unshare and upload of the same round), so load changes between rounds cancel out.');
await recorder.finish(common.jsonFile);

async function measureStore(store: StoreKind): Promise<void> {
  const storeDir = path.join(workDir, `store-${store}`);
  const s3: BenchStore | undefined =
    store === 's3rver'
      ? await startS3Server(path.join(workDir, 's3rver'), BUCKET)
      : store === 'rgw'
        ? await startRgw(path.join(workDir, 'rgw'), BUCKET, Math.max(4 * 1024 ** 3, size * 8))
        : undefined;
  let copier: StoreCopier | undefined;
  const contenders: { label: string; session: Session }[] = [];
  try {
    if (s3 !== undefined) copier = await storeCopier(s3);
    // This build, and with --baseline-build another one on the same store (its own names), alternating within each round.
    for (const [label, build] of [[store, undefined], ...(baselineBuild === undefined ? [] : [[`${store}, baseline`, baselineBuild]])] as const) {
      const session = await openSession(workDir, {
        dataDir: path.join(workDir, `server-${label.replace(/\W+/g, '-')}`),
        nodeArgs: common.serverNodeArgs,
        ...(build === undefined ? {} : { build }),
        ...(s3 === undefined
          ? { serveArgs: ['--storage', 'local', '--store-dir', storeDir] }
          : { env: s3.credentials, serveArgs: s3ServeArgs(s3, BUCKET, PREFIX) }),
      });
      contenders.push({ label, session });
    }
    for (let round = 0; round < common.rounds; round++) {
      for (const { label, session } of contenders) await measureRound(label, session, round, copier);
    }
  } finally {
    for (const { session } of contenders) await session.close();
    copier?.close();
    await s3?.stop();
  }
}

/** One round on one server: (locked upload,) upload, share, (CopyObject alone,) unshare; `label` names the series. */
async function measureRound(label: string, session: Session, round: number, copier: StoreCopier | undefined): Promise<void> {
  const { client, server, keyPath } = session;
  const tag = label.replace(/\W+/g, '-');
  if (lockedUpload) {
    const locked = await measure(server, () => client.call('upload', { path: source, keyPath, name: `locked-${tag}-${round}.bin`, overwrite: true }));
    recorder.add(`upload, keyPath, locked (${label})`, 's', locked.seconds, size);
    recorder.add(`upload, keyPath, locked (${label}): server peak RSS`, 'MiB', toMiB(locked.serverRss));
    await client.call('deleteFile', { name: `locked-${tag}-${round}.bin` });
  }

  await client.call('unlock', { keyPath });
  const name = `shared-${tag}-${round}.bin`;
  const upload = await measure(server, () => client.call('upload', { path: source, name, overwrite: true }));
  recorder.add(`upload, unlocked identity (${label})`, 's', upload.seconds, size);
  recorder.add(`upload, unlocked identity (${label}): server peak RSS`, 'MiB', toMiB(upload.serverRss));

  const friend = await client.call<{ recipient: string }>('createKey', { path: path.join(workDir, `friend-${tag}-${round}.key.txt`) });
  // The server's RSS stays near what the upload made resident; what a share adds is its peak minus this.
  const rssBefore = readMemory(server.pid)?.rssBytes ?? Number.NaN;
  const share = await measure(server, () => client.call<{ headerRewrite: string }>('shareFile', { name, with: [friend.recipient] }));
  recorder.add(`shareFile (${label})`, 'ms', share.seconds * 1000);
  recorder.add(`shareFile (${label}): server peak RSS`, 'MiB', toMiB(share.serverRss));
  recorder.add(`shareFile (${label}): server RSS just before`, 'MiB', toMiB(rssBefore));
  recorder.add(`share ÷ upload (${label})`, '%', (100 * share.seconds) / upload.seconds);
  recorder.note(`${label} round ${round + 1}: headerRewrite ${share.result.headerRewrite}`);

  if (copier !== undefined) {
    const copySeconds = await copier.copyAlone(`${PREFIX}${name}`);
    recorder.add(`CopyObject alone (${label})`, 'ms', copySeconds * 1000);
    recorder.add(`CopyObject alone ÷ upload (${label})`, '%', (100 * copySeconds) / upload.seconds);
  }

  const unshare = await measure(server, () => client.call('unshareFile', { name, keep: [] }));
  recorder.add(`unshareFile (${label})`, 's', unshare.seconds, size);
  recorder.add(`unshareFile (${label}): server peak RSS`, 'MiB', toMiB(unshare.serverRss));
  recorder.add(`unshare ÷ upload (${label})`, '%', (100 * unshare.seconds) / upload.seconds);

  await client.call('lock', {});
  await client.call('deleteFile', { name });
}

interface StoreCopier {
  /** CopyObject of `key` to a scratch key, timed; the scratch copy is then deleted. */
  copyAlone(key: string): Promise<number>;
  close(): void;
}

/** The store's own copy of an unchanged object, outside cloudlocker: what a copy costs the store. */
async function storeCopier(store: BenchStore): Promise<StoreCopier> {
  const { S3Client, CopyObjectCommand, DeleteObjectCommand } = await import('@aws-sdk/client-s3');
  const client = new S3Client({
    endpoint: store.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: store.credentials.AWS_ACCESS_KEY_ID, secretAccessKey: store.credentials.AWS_SECRET_ACCESS_KEY },
  });
  return {
    async copyAlone(key) {
      const scratch = `bench-scratch/${path.posix.basename(key)}.copy`;
      const started = performance.now();
      await client.send(new CopyObjectCommand({ Bucket: BUCKET, Key: scratch, CopySource: `${BUCKET}/${key.split('/').map(encodeURIComponent).join('/')}` }));
      const seconds = (performance.now() - started) / 1000;
      await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: scratch }));
      return seconds;
    },
    close: () => client.destroy(),
  };
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
    recorder.note("KDF calls are serialised when two unlocks at once take about twice one (x ≈ 2) and their transient RSS stays about one scrypt's (≈ 256 MiB at 2^18), not two.");
  } finally {
    await session.close();
  }
}
