/**
 * Round-trip latency of getServerInfo over wss, one call at a time, against a
 * bare WebSocket echo server over wss with the same certificate (both servers
 * are processes of their own; the client is this process). Rounds alternate
 * which server goes first; p50 and p99 over every call, and the median of the
 * per-round p50 ratios.
 * Target: cloudlocker p50 <= 1.5x echo p50.
 *
 *   npm run build && node dist/tools/bench/rpc-latency.js [--calls 2000] [--rounds 5] [--json FILE]
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { killOnExit } from './lib/children.js';
import { Args } from './lib/cli-args.js';
import { removePath } from './lib/files.js';
import { Recorder } from './lib/report.js';
import { BenchRpcClient } from './lib/rpc-client.js';
import { makeWorkDir, openSession } from './lib/session.js';
import { medianPairRatio, percentile } from './lib/stats.js';

const args = new Args();
const common = args.common(5);
const calls = Math.max(10, Math.floor(args.number('calls', 2000)));

const workDir = await makeWorkDir(common.workDir, 'cloudlocker-bench-rpc-');
const recorder = new Recorder('RPC latency: getServerInfo vs bare wss echo', workDir, { calls, rounds: common.rounds });
// The per-connection rate limit (default 200 requests/s) would answer a
// tight loop of calls BUSY: it is raised here, since what is measured is the
// time of one round trip, not how many a client may send.
const session = await openSession(workDir, {
  nodeArgs: common.serverNodeArgs,
  env: { CLOUDLOCKER_MAX_REQUESTS_PER_SECOND: '1000000', CLOUDLOCKER_REQUEST_BURST: '1000000' },
});
const echo = await startEchoServer(session.server.certPath, session.server.keyPath);
const echoClient = await BenchRpcClient.connect({ url: `wss://127.0.0.1:${echo.port}/`, token: 'unused', caPem: session.server.caPem });

async function latencies(client: BenchRpcClient, count: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    await client.call('getServerInfo', {});
    samples.push(performance.now() - start);
  }
  return samples;
}

try {
  // Warm up both (JIT, TLS session, socket buffers).
  await latencies(session.client, 200);
  await latencies(echoClient, 200);
  const all = { cloudlocker: [] as number[], echo: [] as number[] };
  for (let round = 0; round < common.rounds; round++) {
    const order = round % 2 === 0 ? (['cloudlocker', 'echo'] as const) : (['echo', 'cloudlocker'] as const);
    for (const side of order) {
      const samples = await latencies(side === 'cloudlocker' ? session.client : echoClient, calls);
      all[side].push(...samples);
      recorder.add(`${side} p50`, 'ms', percentile(samples, 50));
      recorder.add(`${side} p99`, 'ms', percentile(samples, 99));
    }
  }
  for (const side of ['cloudlocker', 'echo'] as const) {
    recorder.figure(`${side} p50 over all calls`, percentile(all[side], 50), ' ms');
    recorder.figure(`${side} p99 over all calls`, percentile(all[side], 99), ' ms');
  }
  recorder.check('getServerInfo p50 ÷ echo p50', medianPairRatio(recorder.values('cloudlocker p50'), recorder.values('echo p50')), '<=', 1.5, 'x');
  recorder.figure('getServerInfo p99 ÷ echo p99', medianPairRatio(recorder.values('cloudlocker p99'), recorder.values('echo p99')), 'x');
} finally {
  await echoClient.close();
  await echo.stop();
  await session.close();
}
recorder.note('the server ran with its per-connection rate limit raised (CLOUDLOCKER_MAX_REQUESTS_PER_SECOND)');
await recorder.finish(common.jsonFile);
await removePath(workDir);

async function startEchoServer(certPath: string, keyPath: string): Promise<{ port: number; stop(): Promise<void> }> {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'echo-server.js');
  const child = killOnExit(spawn(process.execPath, [script, certPath, keyPath], { stdio: ['ignore', 'pipe', 'inherit'] }));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const match = /listening (\d+)/.exec(text);
      if (match !== null) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`the echo server exited with ${code}`)));
  });
  return {
    port,
    async stop() {
      child.kill('SIGINT');
      await exited;
    },
  };
}
