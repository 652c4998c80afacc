/**
 * cancelTransfer sent right behind the upload or download it names, in the
 * same breath: it reaches the server while the request is still being
 * checked (source, key file, store), before the transfer exists. It must
 * still cancel it: CANCELLED, nothing left behind, and cancelled: true.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CHUNK_SIZE } from '../../src/crypto/index.js';
import { makeTempDir, openClient, type JsonRpcResponseMessage, type TestClient, type TestServer } from '../helpers/server.js';
import { startTestService } from '../helpers/service.js';

describe('cancelTransfer arriving before its transfer has started', () => {
  let dir: string;
  let storeDir: string;
  let server: TestServer;
  let client: TestClient;

  beforeEach(async () => {
    dir = await makeTempDir('cloudlocker-cancel-early-');
    storeDir = path.join(dir, 'store');
    server = await startTestService({ storeDir });
    client = await openClient(server);
  });

  afterEach(async () => {
    await client?.close();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const reasonOf = (response: JsonRpcResponseMessage) => response.error?.data?.reason;

  /** Every file (not folder) under `root`. */
  async function filesUnder(root: string): Promise<string[]> {
    const entries = await readdir(root, { recursive: true, withFileTypes: true });
    return entries.filter((entry) => !entry.isDirectory()).map((entry) => path.join(entry.parentPath, entry.name));
  }

  async function finishedOutcome(transferId: string): Promise<unknown> {
    const finished = await client.waitForNotification((n) => n.method === 'transferFinished' && n.params['transferId'] === transferId);
    return finished.params['outcome'];
  }

  it('cancels an upload whose request is still being checked, leaving nothing in the store', async () => {
    const source = path.join(dir, 'early.bin');
    await writeFile(source, randomBytes(8 * CHUNK_SIZE));
    // Both frames back to back: the cancel arrives while the upload's source and key are still being looked at.
    const upload = client.call('upload', { path: source, keyPath: path.join(dir, 'early.key.json'), transferId: 'early-up' });
    const cancel = client.call('cancelTransfer', { transferId: 'early-up' });

    expect((await cancel).result).toEqual({ transferId: 'early-up', cancelled: true });
    const answer = await upload;
    expect(answer.error).toMatchObject({ code: -32007 });
    expect(reasonOf(answer)).toBe('CANCELLED');
    expect(await finishedOutcome('early-up')).toBe('cancelled');
    const { transfers } = await client.request('listTransfers', {});
    expect(transfers.find((t) => t.transferId === 'early-up')).toMatchObject({ state: 'cancelled', direction: 'upload' });
    expect((await client.request('listFiles', {})).files).toEqual([]);
    // Nothing in the store's directory: no object, no temporary in .tmp.
    expect(await filesUnder(storeDir)).toEqual([]);
    // The id is that cancelled transfer's now: cancelling again says it had finished.
    expect(await client.request('cancelTransfer', { transferId: 'early-up' })).toEqual({ transferId: 'early-up', cancelled: false });
  });

  it('cancels a download whose request is still being checked, leaving no file and no temporary', async () => {
    const source = path.join(dir, 'stored.bin');
    await writeFile(source, randomBytes(8 * CHUNK_SIZE));
    const keyPath = path.join(dir, 'stored.key.json');
    await client.request('upload', { path: source, keyPath, name: 'stored.bin' });
    const outDir = path.join(dir, 'downloads');
    await mkdir(outDir);

    const download = client.call('download', { name: 'stored.bin', keyPath, destination: outDir, transferId: 'early-down' });
    const cancel = client.call('cancelTransfer', { transferId: 'early-down' });

    expect((await cancel).result).toEqual({ transferId: 'early-down', cancelled: true });
    expect(reasonOf(await download)).toBe('CANCELLED');
    expect(await finishedOutcome('early-down')).toBe('cancelled');
    expect(await readdir(outDir)).toEqual([]);
  });

  it('refuses a second request with a transferId that a request still being checked holds', async () => {
    const source = path.join(dir, 'twice.bin');
    await writeFile(source, randomBytes(CHUNK_SIZE));
    const keyPath = path.join(dir, 'twice.key.json');
    const first = client.call('upload', { path: source, keyPath, name: 'first.bin', transferId: 'twice' });
    // Its source does not exist, but the id is the first thing it is refused for.
    const second = client.call('upload', { path: path.join(dir, 'missing.bin'), keyPath, name: 'second.bin', transferId: 'twice' });

    expect((await second).error).toMatchObject({ code: -32602, data: { param: 'transferId' } });
    expect((await first).result).toMatchObject({ transferId: 'twice', name: 'first.bin' });
  });
});
