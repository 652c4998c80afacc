/**
 * Notifications over real connections: fan-out to every client in seq
 * order, and a client that stops reading gets coalesced progress but every
 * transferFinished.
 */
import type { TransferFinishedParams, TransferProgressParams } from '../../protocol/index.js';
import { openClient, startTestServer, tryHandshake, type TestServer } from '../helpers/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.stop();
});

let seq = 0;
function progressParams(transferId: string, transferredBytes: number, padding = ''): TransferProgressParams {
  seq += 1;
  return {
    seq,
    transferId,
    direction: 'download',
    name: `${transferId}${padding}`,
    state: 'running',
    totalBytes: 1000,
    cryptoBytes: transferredBytes,
    transferredBytes,
    bytesPerSecond: 0,
    etaSeconds: null,
    startedAt: new Date().toISOString(),
  };
}
function finishedParams(transferId: string): TransferFinishedParams {
  seq += 1;
  return { seq, transferId, direction: 'download', name: transferId, outcome: 'completed' };
}

it('fans notifications out to every authenticated client, in seq order', async () => {
  const [a, b] = await Promise.all([openClient(server), openClient(server, { tokenVia: 'query' })]);
  // A refused handshake never joins the audience.
  expect((await tryHandshake(server, { token: null })).status).toBe(401);
  for (let bytes = 100; bytes <= 300; bytes += 100) {
    server.notifications.publish({ method: 'transferProgress', params: progressParams('fan', bytes) }, { coalesceKey: 'fan' });
  }
  server.notifications.publish({ method: 'transferFinished', params: finishedParams('fan') }, { coalesceKey: 'fan' });
  for (const client of [a, b]) {
    await client.waitForNotification((n) => n.method === 'transferFinished' && n.params['transferId'] === 'fan');
    const seqs = client.notifications.map((n) => n.params['seq'] as number);
    expect(seqs).toHaveLength(4);
    expect(seqs).toEqual([seqs[0], (seqs[0] ?? 0) + 1, (seqs[0] ?? 0) + 2, (seqs[0] ?? 0) + 3]);
    expect(client.notifications.map((n) => n.method)).toEqual(['transferProgress', 'transferProgress', 'transferProgress', 'transferFinished']);
  }
  expect(server.notifications.stats().connections).toBe(2);
  await Promise.all([a.close(), b.close()]);
});

it('coalesces progress for a client that stops reading, and still delivers every transferFinished', async () => {
  const reader = await openClient(server);
  const stalled = await openClient(server);
  stalled.ws.pause(); // stop reading from the socket: the kernel buffers fill, then the server's
  const padding = 'p'.repeat(64 * 1024);
  const PROGRESS = 400; // 400 × 64 KiB ≈ 25 MiB: far more than loopback socket buffers hold
  for (let index = 1; index <= PROGRESS; index += 1) {
    server.notifications.publish(
      { method: 'transferProgress', params: progressParams('big', index, padding) },
      { coalesceKey: 'big' },
    );
    // Let the reading client read, as it would between a real engine's progress ticks.
    await new Promise((resolve) => setImmediate(resolve));
  }
  const finishedIds = Array.from({ length: 10 }, (_, index) => `done-${index}`);
  server.notifications.publish({ method: 'transferFinished', params: finishedParams('big') }, { coalesceKey: 'big' });
  for (const id of finishedIds) server.notifications.publish({ method: 'transferFinished', params: finishedParams(id) }, { coalesceKey: id });

  const stats = server.notifications.stats();
  expect(stats.coalesced).toBeGreaterThan(0);
  expect(stats.queued).toBeGreaterThan(0);
  // Bounded per connection: one pending progress per transfer plus the finished ones.
  expect(stats.queued).toBeLessThanOrEqual(2 * (1 + 1 + finishedIds.length));

  stalled.ws.resume();
  await stalled.waitForNotification((n) => n.params['transferId'] === finishedIds.at(-1), 15_000);
  const received = stalled.notifications;
  const progress = received.filter((n) => n.method === 'transferProgress');
  expect(progress.length).toBeLessThan(PROGRESS);
  // The latest value got through, before its transfer's transferFinished.
  const bigFinished = received.findIndex((n) => n.method === 'transferFinished' && n.params['transferId'] === 'big');
  expect(received[bigFinished - 1]).toMatchObject({ method: 'transferProgress', params: { transferredBytes: PROGRESS } });
  expect(received.filter((n) => n.method === 'transferFinished').map((n) => n.params['transferId'])).toEqual(['big', ...finishedIds]);
  const seqs = received.map((n) => n.params['seq'] as number);
  expect(seqs).toEqual([...seqs].sort((x, y) => x - y));

  // The client that kept reading was not held back by the stalled one.
  await reader.waitForNotification((n) => n.params['transferId'] === finishedIds.at(-1), 15_000);
  const readerProgress = reader.notifications.filter((n) => n.method === 'transferProgress');
  expect(readerProgress.length).toBeGreaterThan(progress.length);
  expect(readerProgress.at(-1)).toMatchObject({ params: { transferredBytes: PROGRESS } });
  expect(reader.notifications.filter((n) => n.method === 'transferFinished')).toHaveLength(1 + finishedIds.length);
  await Promise.all([reader.close(), stalled.close()]);
});
