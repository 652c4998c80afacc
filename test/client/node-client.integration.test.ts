/**
 * The Node client against a real service: typed results, errors with their
 * reasons, notifications, transfer cancellation, request timeouts and
 * aborts, server.json discovery, and certificate pinning that never hands the
 * token to a server with another certificate.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import tls from 'node:tls';
import {
  ConnectError,
  GetServerInfo,
  ListFiles,
  RequestAbortedError,
  RequestTimeoutError,
  RpcError,
  TransferProgress,
  connect,
  discover,
  type CloudlockerClient,
  type EventInfo,
  type GetServerInfoResult,
  type ListFilesResult,
  type TransferFinishedParams,
  type TransferProgressParams,
  type UploadOutcome,
} from '../../src/client/node.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { serviceFixture, transferHold, waitFor, type ServiceFixture } from './fixtures.js';

let fixture: ServiceFixture;
let client: CloudlockerClient;
/** Transfers held mid-way on demand, so a test acts while one surely runs. */
const holds = transferHold();

beforeAll(async () => {
  fixture = await serviceFixture({ slowMs: 15, beforeWritePart: holds.beforeWritePart });
  client = await connect({ dataDir: fixture.dataDir });
});

afterEach(() => {
  holds.releaseAll();
});

afterAll(async () => {
  await client?.close();
  await fixture?.cleanup();
});

/** The rejection of `promise`, which must reject. */
async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the promise to reject');
}

describe('requests', () => {
  it('returns typed results by descriptor and by method name', async () => {
    const info: GetServerInfoResult = await client.request(GetServerInfo);
    expect(info).toMatchObject({ name: 'cloudlocker', protocolVersion: 1 });
    const byName: ListFilesResult = await client.request('listFiles', { limit: 5 });
    expect(byName).toEqual({ files: [], nextCursor: null });
    const byDescriptor = await client.request(ListFiles, {});
    expect(byDescriptor.nextCursor).toBeNull();
    expect(client.state).toBe('open');
  });

  it('rejects with RpcError carrying the code and reason', async () => {
    const notFound = await rejectionOf(client.request('getFileInfo', { name: 'nope.txt' }));
    expect(notFound).toBeInstanceOf(RpcError);
    expect(notFound).toMatchObject({ code: -32001, reason: 'NOT_FOUND' });
    const invalid = await rejectionOf(client.request('getFileInfo', { name: '../escape' }));
    expect(invalid).toMatchObject({ code: -32602, reason: undefined });
    expect((invalid as RpcError).data).toMatchObject({ param: 'name' });
  });

  it('times out a request after timeoutMs, and stops waiting when its signal aborts', async () => {
    const { path: source } = await fixture.file('timeout.bin', 4 * 1024 * 1024);
    const keyPath = path.join(fixture.filesDir, 'timeout.key.json');
    const release = holds.hold();
    const timedOut = await rejectionOf(client.request('upload', { path: source, keyPath, name: 'timeout.bin' }, { timeoutMs: 30 }));
    expect(timedOut).toBeInstanceOf(RequestTimeoutError);
    expect(timedOut.message).toContain('upload');
    release();

    const controller = new AbortController();
    const waiting = client.request('listTransfers', {}, { signal: controller.signal });
    controller.abort();
    expect(await rejectionOf(waiting)).toBeInstanceOf(RequestAbortedError);
    // The connection is still usable, and the upload went on in the service.
    await waitFor(async () => (await client.request('listFiles', { prefix: 'timeout' })).files.length === 1, 10_000, 'the upload');
  });
});

describe('transfers and notifications', () => {
  it('uploads and downloads with a client-chosen transferId, typed progress and one finish per transfer', async () => {
    const { path: source, bytes } = await fixture.file('round.bin', 3 * 1024 * 1024 + 5);
    const keyPath = path.join(fixture.filesDir, 'round.key.json');
    const progress: TransferProgressParams[] = [];
    const finished: Array<[TransferFinishedParams, EventInfo]> = [];
    const viaDescriptor: number[] = [];
    const stopProgress = client.onProgress((p) => progress.push(p));
    const stopFinished = client.onFinished((f, info) => finished.push([f, info]));
    const stopDescriptor = client.on(TransferProgress, (p) => viaDescriptor.push(p.seq));
    const own: number[] = [];

    const uploaded: UploadOutcome = await client.upload(
      { path: source, keyPath, name: 'dir/round.bin' },
      { onProgress: (p) => own.push(p.transferredBytes) },
    );
    if ('recovered' in uploaded) throw new Error('expected the full result');
    expect(uploaded).toMatchObject({ name: 'dir/round.bin', size: bytes.length, keyCreated: true, keyPath });
    expect(uploaded.transferId).toMatch(/^[0-9a-f-]{36}$/);
    expect(own.at(-1)).toBe(bytes.length);
    expect(own).toEqual([...own].sort((a, b) => a - b));

    const destination = path.join(fixture.filesDir, 'round.out');
    const downloaded = await client.download({ name: 'dir/round.bin', keyPath, destination, transferId: 'my-download-1' });
    expect(downloaded).toMatchObject({ transferId: 'my-download-1', path: destination, size: bytes.length });
    expect((await readFile(destination)).equals(bytes)).toBe(true);

    await waitFor(() => finished.some(([f]) => f.transferId === 'my-download-1'), 5000, 'the download to finish');
    const mine = finished.filter(([f]) => f.transferId === uploaded.transferId || f.transferId === 'my-download-1');
    expect(mine.map(([f, info]) => [f.direction, f.outcome, info.source])).toEqual([
      ['upload', 'completed', 'live'],
      ['download', 'completed', 'live'],
    ]);
    expect(mine[0]?.[0].result).toEqual(uploaded);
    expect(progress.filter((p) => p.transferId === 'my-download-1').at(-1)).toMatchObject({ state: 'completed', cryptoBytes: bytes.length });
    expect(viaDescriptor.length).toBe(progress.length);
    // seq rises, and the client tracks the highest one.
    const seqs = [...progress.map((p) => p.seq), ...finished.map(([f]) => f.seq)].sort((a, b) => a - b);
    expect(client.lastSeq).toBe(seqs.at(-1));
    stopProgress();
    stopFinished();
    stopDescriptor();
  });

  it('cancels a running transfer on the service when its signal aborts', async () => {
    const { path: source } = await fixture.file('cancel.bin', 24 * 1024 * 1024);
    const keyPath = path.join(fixture.filesDir, 'cancel.key.json');
    const controller = new AbortController();
    const finished: TransferFinishedParams[] = [];
    const stop = client.onFinished((f) => finished.push(f));
    holds.hold();
    const upload = client.upload(
      { path: source, keyPath, name: 'cancel.bin', transferId: 'cancel-running' },
      { signal: controller.signal, onProgress: (p) => (p.state === 'running' ? controller.abort() : undefined) },
    );
    const error = await rejectionOf(upload);
    expect(error).toMatchObject({ name: 'RpcError', code: -32007, reason: 'CANCELLED' });
    await waitFor(() => finished.some((f) => f.transferId === 'cancel-running'), 5000, 'transferFinished');
    expect(finished.find((f) => f.transferId === 'cancel-running')?.outcome).toBe('cancelled');
    expect((await client.request('listFiles', { prefix: 'cancel' })).files).toEqual([]);
    stop();
  });

  it('cancels a transfer aborted before the service has registered it', async () => {
    const { path: source } = await fixture.file('early.bin', 8 * 1024 * 1024);
    const keyPath = path.join(fixture.filesDir, 'early.key.json');
    const controller = new AbortController();
    holds.hold();
    const upload = client.upload({ path: source, keyPath, name: 'early.bin' }, { signal: controller.signal });
    controller.abort(); // the request is on its way; the key is still being created
    expect(await rejectionOf(upload)).toMatchObject({ reason: 'CANCELLED' });
    expect((await client.request('listFiles', { prefix: 'early' })).files).toEqual([]);
  });

  it('rejects at once, sending nothing, when the signal is already aborted', async () => {
    const before = client.lastSeq;
    const error = await rejectionOf(
      client.upload({ path: '/nonexistent', keyPath: '/nonexistent.key', transferId: 'never' }, { signal: AbortSignal.abort() }),
    );
    expect(error).toMatchObject({ reason: 'CANCELLED' });
    const { transfers } = await client.request('listTransfers', { sinceSeq: before });
    expect(transfers.map((t) => t.transferId)).not.toContain('never');
  });
});

describe('finding and trusting the service', () => {
  it('discover() reads server.json and the certificate it names', async () => {
    const found = await discover({ dataDir: fixture.dataDir });
    expect(found).toMatchObject({
      url: fixture.server.url,
      token: fixture.server.token,
      spkiSha256: fixture.server.certificate.spkiSha256,
      dataDir: fixture.dataDir,
      pid: process.pid,
    });
    expect(found.ca).toBe(fixture.server.caPem);
  });

  it('discover() fails with ConnectError not-running when there is no server.json', async () => {
    const error = await rejectionOf(discover({ dataDir: fixture.filesDir }));
    expect(error).toBeInstanceOf(ConnectError);
    expect(error).toMatchObject({ kind: 'not-running' });
    expect(error.message).toContain('cloudlocker serve');
  });

  it('connects with only the SPKI pin, or only the certificate hash', async () => {
    const { url, token, certificate } = fixture.server;
    for (const pin of [{ spkiSha256: certificate.spkiSha256 }, { sha256: certificate.sha256.toUpperCase() }]) {
      const pinned = await connect({ url, token, ...pin, reconnect: false });
      expect((await pinned.request('getServerInfo')).name).toBe('cloudlocker');
      await pinned.close();
    }
  });

  it('refuses a wrong token with ConnectError unauthorized (401)', async () => {
    const { url, certificate } = fixture.server;
    const error = await rejectionOf(connect({ url, token: 'wrong-token-wrong-token', ca: fixture.server.caPem, spkiSha256: certificate.spkiSha256 }));
    expect(error).toMatchObject({ name: 'ConnectError', kind: 'unauthorized', status: 401 });
    expect(error.message).not.toContain('wrong-token');
  });

  it('refuses, before sending the token, a server whose certificate is not the pinned one', async () => {
    // Another service's certificate on a listener that records what it receives.
    const other: TestServer = await startTestServer();
    const received: Buffer[] = [];
    let handshakes = 0;
    const impostor = tls.createServer({ cert: other.caPem, key: await readFile(path.join(path.dirname(other.certificate.path), 'key.pem')) }, (socket) => {
      socket.on('data', (chunk: Buffer) => received.push(chunk));
      socket.on('error', () => undefined);
    });
    impostor.on('connection', () => (handshakes += 1));
    impostor.on('tlsClientError', () => undefined);
    await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve));
    const port = (impostor.address() as { port: number }).port;
    const url = `wss://127.0.0.1:${port}/rpc`;
    const token = fixture.server.token;
    try {
      const pins = [
        { spkiSha256: fixture.server.certificate.spkiSha256 },
        { sha256: fixture.server.certificate.sha256 },
        { ca: fixture.server.caPem, spkiSha256: fixture.server.certificate.spkiSha256 },
        { ca: fixture.server.caPem },
      ];
      for (const pin of pins) {
        const error = await rejectionOf(connect({ url, token, ...pin, reconnect: false }));
        expect(error).toMatchObject({ name: 'ConnectError', kind: 'certificate' });
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(handshakes).toBeGreaterThan(0); // the connections did reach it...
      expect(Buffer.concat(received).toString('latin1')).not.toContain(token); // ...but the token never did
      expect(received).toEqual([]);
    } finally {
      await new Promise<void>((resolve) => impostor.close(() => resolve()));
      await other.stop();
    }
  });
});
