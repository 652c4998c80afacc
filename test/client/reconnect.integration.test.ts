/**
 * Reconnection and resynchronisation. A TCP relay between client and service
 * plays the network: cutting it drops the connection and refuses new ones,
 * so the test decides what happens while the client is away. Restarts reuse
 * the data directory, the port and the token (passed as the `token` option).
 */
import path from 'node:path';
import {
  ConnectionLostError,
  connect,
  type CloudlockerClient,
  type EventInfo,
  type StateChange,
  type TransferFinishedParams,
  type TransferProgressParams,
} from '../../src/client/node.js';
import { openClient } from '../helpers/server.js';
import { serviceFixture, transferHold, waitFor, type ServiceFixture } from './fixtures.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

const FAST_RECONNECT = { initialDelayMs: 20, maxDelayMs: 100 };

let fixture: ServiceFixture;
let proxy: TcpProxy;
let client: CloudlockerClient | undefined;

/** Transfers held mid-way on demand: `const release = holds.hold()`. */
const holds = transferHold();
const holdTransfers = () => holds.hold();

beforeEach(async () => {
  fixture = await serviceFixture({ slowMs: 20, token: 'reconnect-test-token-0123456789abcdef', beforeWritePart: holds.beforeWritePart });
  proxy = await startTcpProxy(fixture.server.port);
});

afterEach(async () => {
  holds.releaseAll();
  await client?.close();
  client = undefined;
  await proxy.close();
  await fixture.cleanup();
});

interface Recorder {
  readonly states: ConnectionStateLog;
  readonly finished: Array<[TransferFinishedParams, EventInfo]>;
  readonly progress: Array<[TransferProgressParams, EventInfo]>;
}
type ConnectionStateLog = StateChange['state'][];

async function connectThroughProxy(): Promise<{ client: CloudlockerClient; seen: Recorder }> {
  const { token, certificate, caPem, url } = fixture.server;
  const connected = await connect({ url: proxy.urlFor(url), token, ca: caPem, spkiSha256: certificate.spkiSha256, reconnect: FAST_RECONNECT });
  const seen: Recorder = { states: [], finished: [], progress: [] };
  connected.onStateChange((change) => seen.states.push(change.state));
  connected.onFinished((f, info) => seen.finished.push([f, info]));
  connected.onProgress((p, info) => seen.progress.push([p, info]));
  client = connected;
  return { client: connected, seen };
}

/** Another client, straight to the service: what happens "elsewhere" while ours is away. */
async function finishedOnService(transferId: string): Promise<boolean> {
  const direct = await openClient(fixture.server);
  try {
    const { transfers } = await direct.request('listTransfers', {});
    return transfers.some((t) => t.transferId === transferId && t.state === 'completed');
  } finally {
    await direct.close();
  }
}

it('reports through resync a transfer that finished while the client was away, and settles its upload()', async () => {
  const { client, seen } = await connectThroughProxy();
  const { path: source } = await fixture.file('away.bin', 12 * 1024 * 1024);
  const keyPath = path.join(fixture.filesDir, 'away.key.json');
  const release = holdTransfers(); // it cannot finish before the client is away
  const upload = client.upload({ path: source, keyPath, name: 'away.bin', transferId: 'away-1' });
  await waitFor(() => seen.progress.some(([p]) => p.transferId === 'away-1' && p.state === 'running'), 5000, 'the upload to run');

  proxy.cut();
  await waitFor(() => client.state === 'reconnecting', 5000, 'reconnecting');
  release();
  await waitFor(() => finishedOnService('away-1'), 10_000, 'the upload to finish on the service');
  expect(seen.finished.map(([f]) => f.transferId)).not.toContain('away-1');

  proxy.resume();
  const outcome = await upload;
  // The service lists the completed transfer's result, so the client that was away gets all of it.
  expect(outcome).toEqual({
    transferId: 'away-1',
    name: 'away.bin',
    size: 12 * 1024 * 1024,
    storedSize: expect.any(Number),
    keyId: expect.any(String),
    keyPath,
    keyCreated: true,
  });
  await waitFor(() => client.state === 'open', 5000, 'open again');
  const finished = seen.finished.filter(([f]) => f.transferId === 'away-1');
  expect(finished).toEqual([[expect.objectContaining({ outcome: 'completed', direction: 'upload', name: 'away.bin' }), { source: 'resync' }]]);
  expect(seen.states[0]).toBe('reconnecting');
  expect(seen.states.at(-1)).toBe('open');
  // Requests work on the new connection, and the file is there.
  expect((await client.request('listFiles', { prefix: 'away' })).files.map((f) => f.name)).toEqual(['away.bin']);
  // The seq the client resumes from is the service's.
  expect(client.lastSeq).toBe((await client.request('listTransfers', {})).seq);
});

it('settles a transfer still running at reconnect from its live transferFinished, with the full result', async () => {
  // Held mid-way until release(): the upload is surely still running when the client is back.
  const release = holdTransfers();
  const { client, seen } = await connectThroughProxy();
  const size = 8 * 1024 * 1024;
  const { path: source } = await fixture.file('blip.bin', size);
  const keyPath = path.join(fixture.filesDir, 'blip.key.json');
  const upload = client.upload({ path: source, keyPath, name: 'blip.bin', transferId: 'blip-1' });
  await waitFor(() => seen.progress.some(([p]) => p.transferId === 'blip-1' && p.state === 'running'), 5000, 'the upload to run');

  proxy.cut();
  // While away, the upload makes progress the client does not see.
  const direct = await openClient(fixture.server);
  const lastSeen = client.lastSeq;
  await waitFor(async () => (await direct.request('listTransfers', { sinceSeq: lastSeen })).transfers.some((t) => t.transferredBytes > 0), 5000, 'progress');
  await direct.close();
  proxy.resume();
  await waitFor(() => client.state === 'open', 5000, 'open again');
  release();

  const outcome = await upload;
  expect(outcome).toMatchObject({ transferId: 'blip-1', name: 'blip.bin', size, keyCreated: true, keyPath });
  expect(outcome).not.toHaveProperty('recovered');
  const finished = seen.finished.filter(([f]) => f.transferId === 'blip-1');
  expect(finished).toEqual([[expect.objectContaining({ outcome: 'completed' }), { source: 'live' }]]);
  // The progress it missed was made up from the resync, then live progress went on.
  const sources = seen.progress.filter(([p]) => p.transferId === 'blip-1').map(([, info]) => info.source);
  expect(sources.filter((source) => source === 'resync')).toHaveLength(1);
  expect(sources.lastIndexOf('live')).toBeGreaterThan(sources.indexOf('resync'));
  const counters = seen.progress.filter(([p]) => p.transferId === 'blip-1').map(([p]) => p.transferredBytes);
  expect(counters).toEqual([...counters].sort((a, b) => a - b));
});

it('after a service restart, reports what the new service did meanwhile and settles the transfer that was running', async () => {
  const { client, seen } = await connectThroughProxy();
  const { server } = fixture;
  const { path: big } = await fixture.file('big.bin', 24 * 1024 * 1024);
  const keyPath = path.join(fixture.filesDir, 'restart.key.json');
  const interrupted = client.upload({ path: big, keyPath, name: 'big.bin', transferId: 'interrupted' });
  await waitFor(() => seen.progress.some(([p]) => p.transferId === 'interrupted' && p.state === 'running'), 5000, 'the upload to run');

  // The client is away while the service restarts on the same port and data directory, with the same token.
  proxy.cut();
  await server.close();
  await fixture.start({ port: server.port, token: server.token });
  const { path: small } = await fixture.file('small.bin', 1000);
  const direct = await openClient(fixture.server);
  await direct.request('upload', { path: small, keyPath, name: 'small.bin', transferId: 'while-away' });
  await direct.close();
  proxy.resume();

  const settled = await interrupted.then(
    (result) => ({ result }),
    (error: unknown) => ({ error: error as Error }),
  );
  await waitFor(() => seen.finished.some(([f]) => f.transferId === 'interrupted'), 10_000, 'the interrupted upload to be reported');
  await waitFor(() => client.state === 'open', 5000, 'open again');
  const reports = (id: string) => seen.finished.filter(([f]) => f.transferId === id).map(([f, info]) => [f.outcome, info.source]);
  expect(reports('while-away')).toEqual([['completed', 'resync']]);
  // A service that forgets unfinished transfers at a restart: reported lost, its promise rejects.
  // One that keeps and resumes them (a transfer journal): it completes, and the promise resolves.
  if ('error' in settled) {
    expect(settled.error).toBeInstanceOf(ConnectionLostError);
    expect(settled.error.message).toContain('outcome is unknown');
    expect(reports('interrupted')).toEqual([['failed', 'lost']]);
  } else {
    expect(settled.result).toMatchObject({ transferId: 'interrupted', name: 'big.bin', size: 24 * 1024 * 1024 });
    expect(reports('interrupted')).toEqual([['completed', expect.stringMatching(/^(live|resync)$/)]]);
  }
  // seq counts from the new service's value on.
  const { seq } = await client.request('listTransfers', {});
  expect(client.lastSeq).toBe(seq);
  expect((await client.request('listFiles', {})).files.map((f) => f.name)).toContain('small.bin');
});

it('finds a service restarted on a new port with a new token through server.json', async () => {
  const viaDataDir = await connect({ dataDir: fixture.dataDir, reconnect: FAST_RECONNECT });
  client = viaDataDir;
  const states: string[] = [];
  viaDataDir.onStateChange((change) => states.push(change.state));
  const before = fixture.server;
  await before.close();
  const after = await fixture.start({ port: 0 });
  expect(after.port).not.toBe(before.port);
  expect(after.token).not.toBe(before.token);
  await waitFor(() => viaDataDir.state === 'open' && states.includes('reconnecting'), 10_000, 'the client to find it');
  expect((await viaDataDir.request('getServerInfo')).name).toBe('cloudlocker');
});

it('with reconnect: false, fails waiting requests and closes when the connection drops', async () => {
  const { token, certificate, caPem, url } = fixture.server;
  const once = await connect({ url: proxy.urlFor(url), token, ca: caPem, spkiSha256: certificate.spkiSha256, reconnect: false });
  client = once;
  const { path: source } = await fixture.file('once.bin', 8 * 1024 * 1024);
  holdTransfers(); // released in afterEach: the upload is surely running when the connection drops
  const progress: string[] = [];
  const upload = once.upload({ path: source, keyPath: path.join(fixture.filesDir, 'once.key.json') }, { onProgress: (p) => progress.push(p.state) });
  await waitFor(() => progress.includes('running'), 5000, 'the upload to run');
  proxy.cut();
  await expect(upload).rejects.toBeInstanceOf(ConnectionLostError);
  expect(once.state).toBe('closed');
  await expect(once.request('getServerInfo')).rejects.toMatchObject({ name: 'ClientClosedError' });
});

it('queues requests made while reconnecting and sends them once the connection is back', async () => {
  const { client } = await connectThroughProxy();
  proxy.cut();
  await waitFor(() => client.state === 'reconnecting', 5000, 'reconnecting');
  const queued = client.request('getServerInfo');
  await new Promise((resolve) => setTimeout(resolve, 150));
  proxy.resume();
  await expect(queued).resolves.toMatchObject({ name: 'cloudlocker' });
});

it('treats a close with 1001 (the service shutting down) as a restart and reports every transfer of the new service', async () => {
  const { client, seen } = await connectThroughProxy();
  const { server } = fixture;
  const keyPath = path.join(fixture.filesDir, 'seq.key.json');
  const { path: small } = await fixture.file('seq.bin', 1000);
  await client.upload({ path: small, keyPath, name: 'old.bin', transferId: 'old-1' });
  await waitFor(() => seen.finished.some(([f]) => f.transferId === 'old-1'), 5000, 'old-1');
  const oldSeq = client.lastSeq;

  await server.close(); // every connection gets 1001, through the relay too
  await waitFor(() => client.state === 'reconnecting', 5000, 'reconnecting');
  proxy.cut();
  await fixture.start({ port: server.port, token: server.token });
  const direct = await openClient(fixture.server);
  // Two transfers: the new service's seq passes the old one, yet the first ends at or below it.
  await direct.request('upload', { path: small, keyPath, name: 'first.bin', transferId: 'first' });
  await direct.request('upload', { path: small, keyPath, name: 'second.bin', transferId: 'second' });
  const { seq: newSeq, transfers } = await direct.request('listTransfers', {});
  await direct.close();
  expect(newSeq).toBeGreaterThanOrEqual(oldSeq);
  expect(transfers.filter((t) => t.transferId === 'first')).toHaveLength(1);
  proxy.resume();

  await waitFor(() => client.state === 'open', 5000, 'open again');
  const reported = seen.finished.filter(([, info]) => info.source === 'resync').map(([f]) => f.transferId);
  expect(reported.sort()).toEqual(['first', 'second']);
  expect(client.lastSeq).toBe(newSeq);
});
