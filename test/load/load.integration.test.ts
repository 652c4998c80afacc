/**
 * The load scenarios of tools/load at CI size, against the whole service in
 * this process: 200 connections at once with 50 calls each, concurrent
 * transfers with every byte verified, and a short soak of mixed operations
 * with memory sampled. Zero errors everywhere. (The full-size run, with a
 * 10-minute soak, is `node dist/tools/load/run-load.js`; its figures are in
 * docs/security.md.)
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { rpcStorm, soak, transferStorm } from '../../tools/load/scenarios.js';
import { makeTempDir, openClient, type TestServer } from '../helpers/server.js';
import { startTestService } from '../helpers/service.js';

const MiB = 1024 * 1024;
const SOAK_MS = Number(process.env['LOAD_SOAK_MS'] ?? 15_000);

let server: TestServer;
let dir: string;

beforeAll(async () => {
  dir = await makeTempDir('cloudlocker-load-');
  // The default connection cap (64) fits a desktop app; this test opens 200 at once on purpose.
  server = await startTestService({ storeDir: path.join(dir, 'store'), maxConnections: 256, logLevel: 'warn' });
  const client = await openClient(server);
  await client.request('createKey', { path: path.join(dir, 'load.key.json') });
  await client.close();
});

afterAll(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

it('serves 200 concurrent connections x 50 calls each without an error', async () => {
  const result = await rpcStorm(server, { connections: 200, rpcsPerConnection: 50 });
  console.info(`rpc storm: ${result.rpcs} calls on ${result.connections} connections in ${result.seconds} s (${result.rpcPerSecond}/s), p99 ${result.latencyMs.p99} ms`);
  expect(result.errors).toEqual({ count: 0, samples: [] });
  expect(result.connections).toBe(200);
  expect(result.rpcs).toBe(200 * 50);
}, 60_000);

it('runs 6 transfers of 8 MiB at once each way, every byte verified', async () => {
  const result = await transferStorm(server, { count: 6, sizeBytes: 8 * MiB, directory: path.join(dir, 'transfers'), keyPath: path.join(dir, 'load.key.json') });
  console.info(`transfer storm: up ${result.uploadMiBPerSecond} MiB/s, down ${result.downloadMiBPerSecond} MiB/s`);
  expect(result.errors).toEqual({ count: 0, samples: [] });
  expect(result.verified).toBe(6);
}, 60_000);

/** The garbage collector, so that heap figures mean what is retained (npm test does not pass --expose-gc). */
function collectGarbage(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

it(`soaks ${SOAK_MS / 1000} s of mixed operations with no error and nothing retained per transfer but its record`, async () => {
  const gc = collectGarbage();
  gc();
  const before = process.memoryUsage();
  const result = await soak(server, {
    durationMs: SOAK_MS,
    directory: path.join(dir, 'soak'),
    keyPath: path.join(dir, 'load.key.json'),
    sampleRss: () => process.memoryUsage().rss,
    sampleEveryMs: 250,
    maxFileBytes: 2 * MiB,
  });
  gc();
  const after = process.memoryUsage();
  const transfers = (result.operations['upload'] ?? 0) + (result.operations['download'] ?? 0);
  const heapPerTransferKiB = (after.heapUsed - before.heapUsed) / 1024 / Math.max(1, transfers);
  const buffersGrowthMiB = (after.arrayBuffers - before.arrayBuffers) / MiB;
  console.info(
    `soak: ${JSON.stringify(result.operations)}; after GC: heap +${((after.heapUsed - before.heapUsed) / MiB).toFixed(1)} MiB ` +
      `(${heapPerTransferKiB.toFixed(1)} KiB per transfer), array buffers ${buffersGrowthMiB >= 0 ? '+' : ''}${buffersGrowthMiB.toFixed(1)} MiB; RSS ${JSON.stringify(result.rss)}`,
  );
  expect(result.errors).toEqual({ count: 0, samples: [] });
  expect(result.operations['download']).toBeGreaterThan(5);
  expect(result.operations['connect+call+close']).toBeGreaterThan(5);
  // Finished transfers stay listed for 10 minutes (a few KiB each): that much heap may stay. A leak
  // of the data itself (parts, buffers of up to 2 MiB per transfer) would be far above these bounds.
  expect(heapPerTransferKiB).toBeLessThan(32);
  expect(buffersGrowthMiB).toBeLessThan(32);
}, SOAK_MS + 60_000);
