/**
 * The core's resynchronisation rules, against a scripted service on a fake
 * transport, for the cases a real service produces only by chance or by
 * crashing: seq going back, transfers vanishing, notifications racing the
 * listTransfers answer, and a shutdown that interrupts a transfer.
 */
import type { ListTransfersResult, TransferStatus } from '../../protocol/index.js';
import { CloudlockerClient, ConnectionLostError, ConnectError, type EventInfo } from '../../src/client/browser.js';
import type { OpenTransport, TransportHandlers } from '../../src/client/transport.js';
import { waitFor } from './fixtures.js';

interface Request {
  id: number;
  method: string;
  params: Record<string, unknown> | undefined;
}

/** A service the test scripts: it records requests and answers only when told to. */
class ScriptedService {
  readonly requests: Request[] = [];
  private handlers: TransportHandlers | undefined;
  reachable = true;

  readonly open: OpenTransport = async (handlers) => {
    if (!this.reachable) throw new ConnectError('unreachable', 'down');
    this.handlers = handlers;
    const mine = handlers;
    return {
      send: (text) => {
        if (this.handlers === mine) this.requests.push(JSON.parse(text) as Request);
      },
      close: () => {
        if (this.handlers === mine) this.drop(1000);
      },
    };
  };

  /** The oldest unanswered request for `method` (waits for it). */
  async next(method: string): Promise<Request> {
    let found: Request | undefined;
    await waitFor(() => (found = this.requests.find((r) => r.method === method)) !== undefined, 2000, method);
    this.requests.splice(this.requests.indexOf(found as Request), 1);
    return found as Request;
  }

  answer(request: Request, result: unknown): void {
    this.handlers?.onMessage(JSON.stringify({ jsonrpc: '2.0', id: request.id, result }));
  }

  fail(request: Request, error: unknown): void {
    this.handlers?.onMessage(JSON.stringify({ jsonrpc: '2.0', id: request.id, error }));
  }

  notify(method: string, params: unknown): void {
    this.handlers?.onMessage(JSON.stringify({ jsonrpc: '2.0', method, params }));
  }

  drop(code: number): void {
    const handlers = this.handlers;
    this.handlers = undefined;
    handlers?.onClose({ code, reason: '' });
  }
}

function status(transferId: string, state: TransferStatus['state'], overrides: Partial<TransferStatus> = {}): TransferStatus {
  return {
    transferId,
    direction: 'upload',
    name: `${transferId}.bin`,
    state,
    totalBytes: 100,
    cryptoBytes: state === 'completed' ? 100 : 40,
    transferredBytes: state === 'completed' ? 100 : 30,
    bytesPerSecond: 0,
    etaSeconds: null,
    startedAt: '2026-11-30T09:00:00.000Z',
    ...overrides,
  };
}

const listing = (seq: number, transfers: TransferStatus[] = []): ListTransfersResult => ({ seq, transfers });

interface Seen {
  finished: Array<[string, string, EventInfo['source']]>;
  progress: Array<[string, number, EventInfo['source']]>;
}

/** A connected client whose service says the current seq is `seq`. */
async function connected(service: ScriptedService, seq: number, transfers: TransferStatus[] = []): Promise<{ client: CloudlockerClient; seen: Seen }> {
  const client = new CloudlockerClient(service.open, { reconnect: { initialDelayMs: 1, maxDelayMs: 5 }, requestTimeoutMs: 2000 });
  const starting = client.start();
  service.answer(await service.next('listTransfers'), listing(seq, transfers));
  await starting;
  const seen: Seen = { finished: [], progress: [] };
  client.onFinished((f, info) => seen.finished.push([f.transferId, f.outcome, info.source]));
  client.onProgress((p, info) => seen.progress.push([p.transferId, p.seq, info.source]));
  return { client, seen };
}

let clients: CloudlockerClient[] = [];
afterEach(async () => {
  await Promise.all(clients.map((client) => client.close()));
  clients = [];
});

it('after a seq that went back, reports the whole new list and the running transfer it lost', async () => {
  const service = new ScriptedService();
  const { client, seen } = await connected(service, 10);
  clients.push(client);
  const upload = client.upload({ path: '/f', keyPath: '/k', transferId: 'up-1' });
  await service.next('upload');
  service.notify('transferProgress', { ...status('up-1', 'running'), seq: 11 });

  service.drop(1006); // a crash: no 1001
  const list = await service.next('listTransfers');
  expect(list.params).toEqual({ sinceSeq: 11 });
  service.answer(list, listing(3, [status('new-1', 'completed')]));
  service.answer(await service.next('listTransfers'), listing(4, [status('new-1', 'completed'), status('new-2', 'running')]));

  await expect(upload).rejects.toBeInstanceOf(ConnectionLostError);
  await waitFor(() => client.state === 'open');
  expect(seen.finished).toEqual([
    ['new-1', 'completed', 'resync'],
    ['up-1', 'failed', 'lost'],
  ]);
  expect(seen.progress.filter(([, , source]) => source === 'resync')).toEqual([['new-2', 4, 'resync']]);
  expect(client.lastSeq).toBe(4);
});

it('takes a known transfer missing from the whole list as a restart, even when seq did not go back', async () => {
  const service = new ScriptedService();
  const { client, seen } = await connected(service, 5, [status('known', 'running')]);
  clients.push(client);
  service.drop(1006);
  service.answer(await service.next('listTransfers'), listing(9, [status('late', 'completed')]));
  // The whole list has no "known", and an "early" transfer whose last seq was at or below 5.
  service.answer(await service.next('listTransfers'), listing(9, [status('early', 'completed'), status('late', 'completed')]));
  await waitFor(() => client.state === 'open');
  expect(seen.finished.sort()).toEqual([
    ['early', 'completed', 'resync'],
    ['known', 'failed', 'lost'],
    ['late', 'completed', 'resync'],
  ]);
});

it('asks only sinceSeq when every known transfer is listed, and does not report a finish twice', async () => {
  const service = new ScriptedService();
  const { client, seen } = await connected(service, 20, [status('a', 'running'), status('done-before', 'completed')]);
  clients.push(client);
  service.notify('transferFinished', { seq: 21, transferId: 'a', direction: 'upload', name: 'a.bin', outcome: 'completed' });
  service.drop(1006);
  const list = await service.next('listTransfers');
  expect(list.params).toEqual({ sinceSeq: 21 });
  // The service lists it again (it changed after 20 in its view, say): already reported.
  service.answer(list, listing(23, [status('a', 'completed'), status('b', 'failed', { error: { code: -32006, message: 'down' } })]));
  await waitFor(() => client.state === 'open');
  expect(service.requests.filter((r) => r.method === 'listTransfers')).toEqual([]);
  expect(seen.finished).toEqual([
    ['a', 'completed', 'live'],
    ['b', 'failed', 'resync'],
  ]);
});

it('holds notifications back during the resync and delivers only those newer than the listing', async () => {
  const service = new ScriptedService();
  const { client, seen } = await connected(service, 30, [status('t', 'running')]);
  clients.push(client);
  service.drop(1006);
  const list = await service.next('listTransfers');
  service.notify('transferProgress', { ...status('t', 'running', { transferredBytes: 50 }), seq: 31 }); // reflected in the listing
  service.notify('transferProgress', { ...status('t', 'running', { transferredBytes: 60 }), seq: 33 }); // newer
  expect(seen.progress).toEqual([]);
  service.answer(list, listing(32, [status('t', 'running', { transferredBytes: 55 })]));
  await waitFor(() => client.state === 'open');
  expect(seen.progress).toEqual([
    ['t', 32, 'resync'],
    ['t', 33, 'live'],
  ]);
  expect(client.lastSeq).toBe(33);
});

it('keeps waiting for a transfer the shutdown interrupted, and settles it when the resumed transfer finishes', async () => {
  const service = new ScriptedService();
  const { client } = await connected(service, 1);
  clients.push(client);
  const upload = client.upload({ path: '/f', keyPath: '/k', transferId: 'resumable' });
  const request = await service.next('upload');
  service.fail(request, { code: -32007, message: 'The transfer was cancelled; nothing was kept.', data: { reason: 'CANCELLED', interrupted: true } });
  service.drop(1001);
  service.answer(await service.next('listTransfers'), listing(2, [status('resumable', 'interrupted' as TransferStatus['state'])]));
  await waitFor(() => client.state === 'open');
  const result = { transferId: 'resumable', name: 'resumable.bin', size: 100, storedSize: 140, keyId: 'k', keyPath: '/k', keyCreated: false };
  service.notify('transferFinished', { seq: 5, transferId: 'resumable', direction: 'upload', name: 'resumable.bin', outcome: 'completed', result });
  await expect(upload).resolves.toEqual(result);
});

it('sends a cancellation made while disconnected once reconnected', async () => {
  const service = new ScriptedService();
  const { client } = await connected(service, 1);
  clients.push(client);
  const controller = new AbortController();
  const upload = client.upload({ path: '/f', keyPath: '/k', transferId: 'stop-me' }, { signal: controller.signal });
  await service.next('upload');
  service.reachable = false;
  service.drop(1006);
  await waitFor(() => client.state === 'reconnecting');
  controller.abort();
  await new Promise((resolve) => setTimeout(resolve, 20));
  expect(service.requests).toEqual([]);
  service.reachable = true;
  service.answer(await service.next('listTransfers'), listing(2, [status('stop-me', 'running')]));
  const cancel = await service.next('cancelTransfer');
  expect(cancel.params).toEqual({ transferId: 'stop-me' });
  service.answer(cancel, { transferId: 'stop-me', cancelled: true });
  service.notify('transferFinished', {
    seq: 3,
    transferId: 'stop-me',
    direction: 'upload',
    name: 'stop-me.bin',
    outcome: 'cancelled',
    error: { code: -32007, message: 'The transfer was cancelled; nothing was kept.', data: { reason: 'CANCELLED' } },
  });
  await expect(upload).rejects.toMatchObject({ reason: 'CANCELLED' });
});

it('gives up after maxAttempts and fails what was waiting', async () => {
  const service = new ScriptedService();
  const client = new CloudlockerClient(service.open, { reconnect: { initialDelayMs: 1, maxDelayMs: 2, maxAttempts: 3 } });
  clients.push(client);
  const starting = client.start();
  service.answer(await service.next('listTransfers'), listing(0));
  await starting;
  const states: string[] = [];
  client.onStateChange((change) => states.push(change.state));
  const queued = client.request('getServerInfo');
  service.reachable = false;
  const sent = await service.next('getServerInfo');
  expect(sent.method).toBe('getServerInfo');
  service.drop(1006);
  await expect(queued).rejects.toBeInstanceOf(ConnectionLostError);
  await waitFor(() => client.state === 'closed');
  expect(states).toEqual(['reconnecting', 'reconnecting', 'reconnecting', 'closed']);
});
