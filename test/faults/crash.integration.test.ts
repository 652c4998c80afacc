/**
 * kill -9 of the server (the built CLI in a child process) in the middle of
 * an upload and of a download, then a restart on the same data directory.
 * What must hold whatever the server does with interrupted transfers
 * (forget them, or resume them from its journal):
 *
 * - the store never lists a partial object: the name is absent, or the
 *   object is whole and decrypts to exactly the source;
 * - the destination never holds partial plaintext: the file is absent, or
 *   whole and exact; what may remain beside it is the download's temporary
 *   (owner-only), which the report below describes;
 * - store temporaries nobody will resume are removed at start;
 * - every object completed before the crash still downloads intact.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { TransferStatus } from '../../protocol/index.js';
import { makeTempDir, RpcCallError, type TestClient } from '../helpers/server.js';
import { connect, ensureBuilt, startBuiltServer, type BuiltServer } from './built-server.js';

const MiB = 1024 * 1024;
const BIG = 160 * MiB;

let work: string;
let dataDir: string;
let server: BuiltServer | undefined;
let client: TestClient | undefined;
let keyPath: string;
const sources = new Map<string, { file: string; sha256: string }>();

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A file of random bytes, written in slices so the test never holds it all in memory. */
async function randomFile(file: string, size: number): Promise<string> {
  const handle = await open(file, 'w');
  const hash = createHash('sha256');
  try {
    for (let written = 0; written < size; ) {
      const slice = randomBytes(Math.min(8 * MiB, size - written));
      hash.update(slice);
      await handle.write(slice, 0, slice.length, written);
      written += slice.length;
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

async function start(): Promise<void> {
  // Progress every 10 ms, so the test can act as soon as a transfer has begun.
  server = await startBuiltServer({ dataDir, args: ['--progress-interval-ms', '10'] });
  client = await connect(server);
}

async function crash(): Promise<void> {
  await server?.kill9();
  client?.ws.terminate();
}

/** Wait until nothing is queued or running (an interrupted transfer waiting for resumeTransfer counts as idle). */
async function quiet(): Promise<TransferStatus[]> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { transfers } = await (client as TestClient).request('listTransfers', {});
    if (!transfers.some((transfer) => transfer.state === 'queued' || transfer.state === 'running')) return transfers;
    if (Date.now() > deadline) throw new Error(`transfers still running: ${JSON.stringify(transfers)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Every stored object is whole: it downloads and matches its source byte for byte. */
async function expectStoreIntact(): Promise<string[]> {
  const names = (await (client as TestClient).request('listFiles', {})).files.map((file) => file.name);
  for (const name of names) {
    const source = sources.get(name);
    expect(source).toBeDefined();
    const out = path.join(work, 'verify', `${name}.${Date.now()}`);
    await mkdir(path.dirname(out), { recursive: true });
    await (client as TestClient).request('download', { name, keyPath, destination: out });
    expect(await sha256File(out)).toBe(source?.sha256);
    await rm(out);
  }
  return names;
}

/** Temporaries in the local store's write folder. */
async function storeTemporaries(): Promise<string[]> {
  return readdir(path.join(dataDir, 'store', '.tmp')).catch(() => []);
}

/** Run `call` and kill the server once the transfer it starts has made progress (and not finished). */
async function killMidTransfer(transferId: string, call: () => Promise<unknown>): Promise<void> {
  const live = client as TestClient;
  // A call whose connection dies never settles: the close decides then.
  const outcome = Promise.race([
    call().then(
      () => 'finished',
      (err: unknown) => (err instanceof RpcCallError ? `failed ${err.error.code}` : 'cut off'),
    ),
    live.closed.then(() => 'cut off'),
  ]);
  await live.waitForNotification(
    (n) => n.method === 'transferProgress' && n.params['transferId'] === transferId && (n.params['transferredBytes'] as number) > 0,
    30_000,
  );
  await crash();
  // The answer must not have come: the kill landed in the middle.
  expect(await outcome).toBe('cut off');
}

beforeAll(async () => {
  await ensureBuilt();
  work = await makeTempDir('cloudlocker-crash-');
  dataDir = path.join(work, 'data');
  keyPath = path.join(work, 'main.key.json');
  for (const [name, size] of [['before.bin', 3 * MiB + 7], ['big.bin', BIG]] as const) {
    const file = path.join(work, name);
    sources.set(name, { file, sha256: await randomFile(file, size) });
  }
  await start();
  await (client as TestClient).request('createKey', { path: keyPath });
  await (client as TestClient).request('upload', { path: sources.get('before.bin')?.file as string, keyPath, name: 'before.bin' });
}, 120_000);

afterAll(async () => {
  await client?.close().catch(() => undefined);
  await server?.stop();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

describe('kill -9 of the server', () => {
  it('during an upload: after restart no partial object is listed, unclaimed store temporaries are gone, earlier objects are intact', async () => {
    await killMidTransfer('crash-up', () =>
      (client as TestClient).request('upload', { path: sources.get('big.bin')?.file as string, keyPath, name: 'big.bin', transferId: 'crash-up' }),
    );
    const leftBehind = await storeTemporaries();
    // A stray temporary nobody journaled, as an older crash could leave: it must go at start.
    await writeFile(path.join(dataDir, 'store', '.tmp', `${'ab'.repeat(16)}.part`), 'stray');

    await start();
    const transfers = await quiet();
    const interrupted = transfers.filter((transfer) => transfer.state === ('interrupted' as TransferStatus['state']));
    const names = await expectStoreIntact();
    expect(names).toContain('before.bin');
    const temporaries = await storeTemporaries();
    expect(temporaries).not.toContain(`${'ab'.repeat(16)}.part`);
    if (interrupted.length === 0) expect(temporaries).toEqual([]);
    console.info(
      `kill -9 during upload: ${leftBehind.length} store temporar${leftBehind.length === 1 ? 'y' : 'ies'} at the crash; ` +
        `after restart big.bin ${names.includes('big.bin') ? 'completed by a resume' : 'absent'}, ${temporaries.length} temporaries left, ` +
        `${interrupted.length} interrupted transfer(s) waiting`,
    );
  }, 120_000);

  it('during a download: after restart the destination is absent or whole, never partial; earlier objects are intact', async () => {
    const live = client as TestClient;
    const names = (await live.request('listFiles', {})).files.map((file) => file.name);
    if (!names.includes('big.bin')) {
      await live.request('upload', { path: sources.get('big.bin')?.file as string, keyPath, name: 'big.bin', overwrite: true });
    }
    const outDir = path.join(work, 'downloads');
    await mkdir(outDir, { recursive: true });
    await killMidTransfer('crash-down', () => live.request('download', { name: 'big.bin', keyPath, destination: outDir, transferId: 'crash-down' }));
    const atCrash = await readdir(outDir);
    expect(atCrash).not.toContain('big.bin');
    for (const entry of atCrash) {
      // Only the download's own temporary may be there, and only its owner can read it.
      expect(entry).toMatch(/^\.[0-9a-f]{20}\.cloudlocker-part$/);
      expect((await stat(path.join(outDir, entry))).mode & 0o777).toBe(0o600);
    }

    await start();
    const transfers = await quiet();
    const after = await readdir(outDir);
    if (after.includes('big.bin')) expect(await sha256File(path.join(outDir, 'big.bin'))).toBe(sources.get('big.bin')?.sha256);
    for (const entry of after.filter((name) => name !== 'big.bin')) {
      expect(entry).toMatch(/^\.[0-9a-f]{20}\.cloudlocker-part$/);
      expect((await stat(path.join(outDir, entry))).mode & 0o777).toBe(0o600);
    }
    await expectStoreIntact();
    const state = transfers.find((transfer) => transfer.transferId === 'crash-down')?.state ?? 'unknown after restart';
    console.info(
      `kill -9 during download: at the crash ${atCrash.length} temporary beside the destination; after restart: ` +
        `${after.includes('big.bin') ? 'destination complete (resumed)' : 'no destination file'}, ` +
        `${after.filter((name) => name !== 'big.bin').length} temporary left, transfer ${state}`,
    );
  }, 120_000);
});
