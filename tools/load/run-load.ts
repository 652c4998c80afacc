/**
 * Load and soak runs against the built server in a child process, with its
 * memory sampled from outside. Run from the repository root:
 *
 *   npm run build && node dist/tools/load/run-load.js                 # everything, 10-minute soak
 *   node dist/tools/load/run-load.js --minutes 1 --skip transfers     # a shorter run
 *   node dist/tools/load/run-load.js --connections 200 --rpcs 50 --transfers 16 --transfer-mib 64 --minutes 10 --json out.json
 *   node dist/tools/load/run-load.js --skip rpcs --skip transfers --minutes 20 --no-acknowledge   # a client that never acknowledges
 *
 * Prints a summary as it goes and, with --json, writes every figure
 * (including the RSS samples of the soak) to a file. Exits 1 if any call
 * failed or a downloaded byte differed.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startChildServer } from './child-server.js';
import { rpcStorm, soak, transferStorm, type RpcStormResult, type SoakResult, type TransferStormResult } from './scenarios.js';

const MiB = 1024 * 1024;

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '200' },
    rpcs: { type: 'string', default: '50' },
    transfers: { type: 'string', default: '16' },
    'transfer-mib': { type: 'string', default: '64' },
    minutes: { type: 'string', default: '10' },
    'sample-ms': { type: 'string', default: '5000' },
    skip: { type: 'string', multiple: true, default: [] },
    'no-acknowledge': { type: 'boolean', default: false },
    json: { type: 'string' },
    'work-dir': { type: 'string' },
  },
});

function positive(name: string, text: string | undefined): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  return value;
}

const connections = positive('connections', values.connections);
const rpcsPerConnection = positive('rpcs', values.rpcs);
const transfers = positive('transfers', values.transfers);
const transferMiB = positive('transfer-mib', values['transfer-mib']);
const minutes = positive('minutes', values.minutes);
const sampleEveryMs = positive('sample-ms', values['sample-ms']);
const skip = new Set(values.skip);

const work = values['work-dir'] ?? path.join(os.tmpdir(), `cloudlocker-load-${process.pid}`);
await mkdir(work, { recursive: true });
const server = await startChildServer({
  dataDir: path.join(work, 'data'),
  // The default connection cap (64) is a desktop app's need; this run opens more at once on purpose.
  env: { CLOUDLOCKER_MAX_CONNECTIONS: String(connections + 16) },
});
const report: { rssAtStartMiB: number; rpcStorm?: RpcStormResult; transferStorm?: TransferStormResult; soak?: SoakResult } = {
  rssAtStartMiB: Math.round((await server.rssBytes()) / MiB),
};
const keyPath = path.join(work, 'load.key.json');
let failed = false;
const line = (text: string) => process.stdout.write(`${text}\n`);

try {
  line(`server pid ${server.pid}, ${server.url}, RSS ${report.rssAtStartMiB} MiB`);
  if (!skip.has('rpcs')) {
    const result = await rpcStorm(server, { connections, rpcsPerConnection });
    report.rpcStorm = result;
    failed ||= result.errors.count > 0;
    line(
      `rpc storm: ${result.connections} connections x ${rpcsPerConnection} calls = ${result.rpcs} calls in ${result.seconds} s ` +
        `(${result.rpcPerSecond} calls/s), ${result.errors.count} errors, latency p50 ${result.latencyMs.p50} ms p99 ${result.latencyMs.p99} ms max ${result.latencyMs.max} ms, ` +
        `RSS ${Math.round((await server.rssBytes()) / MiB)} MiB`,
    );
  }
  if (!skip.has('transfers')) {
    const result = await transferStorm(server, { count: transfers, sizeBytes: transferMiB * MiB, directory: path.join(work, 'transfers'), keyPath });
    report.transferStorm = result;
    failed ||= result.errors.count > 0 || result.verified !== transfers;
    line(
      `transfer storm: ${transfers} x ${transferMiB} MiB, upload ${result.uploadSeconds} s (${result.uploadMiBPerSecond} MiB/s), ` +
        `download ${result.downloadSeconds} s (${result.downloadMiBPerSecond} MiB/s), ${result.verified}/${transfers} verified, ${result.errors.count} errors, ` +
        `RSS ${Math.round((await server.rssBytes()) / MiB)} MiB`,
    );
  }
  if (!skip.has('soak')) {
    line(`soak: ${minutes} min of mixed operations, RSS sampled every ${sampleEveryMs} ms...`);
    const result = await soak(server, {
      durationMs: minutes * 60_000,
      directory: path.join(work, 'soak'),
      keyPath,
      sampleRss: () => server.rssBytes(),
      sampleEveryMs,
      acknowledge: values['no-acknowledge'] !== true,
    });
    report.soak = result;
    failed ||= result.errors.count > 0;
    const ops = Object.entries(result.operations).map(([operation, count]) => `${operation} ${count}`).join(', ');
    line(`soak: ${result.seconds} s, ${ops}; ${result.errors.count} errors`);
    line(
      `soak RSS (MiB): first ${result.rss.firstMiB}, min ${result.rss.minMiB}, max ${result.rss.maxMiB}, last ${result.rss.lastMiB}; ` +
        `quarter means ${result.rss.quarterMeansMiB.join(' / ')}; second-half slope ${result.rss.secondHalfSlopeMiBPerMinute} MiB/min`,
    );
  }
  for (const [name, part] of [['rpc storm', report.rpcStorm], ['transfer storm', report.transferStorm], ['soak', report.soak]] as const) {
    if (part !== undefined && part.errors.samples.length > 0) line(`${name}, first errors: ${part.errors.samples.join(' | ')}`);
  }
  if (values.json !== undefined) await writeFile(values.json, `${JSON.stringify(report, null, 2)}\n`);
} finally {
  await server.stop();
  if (values['work-dir'] === undefined) await rm(work, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;
