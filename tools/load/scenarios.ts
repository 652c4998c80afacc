/**
 * Load scenarios against a running cloudlocker (any: the built CLI in a
 * child process for measurements, or an in-process test service in CI):
 *
 * - rpcStorm: many connections at once, each sending a number of mixed
 *   calls with a few in flight; every call must succeed.
 * - transferStorm: many uploads at once, then many downloads at once, every
 *   byte verified by SHA-256.
 * - soak: mixed operations for a while (uploads of random sizes, listings,
 *   file info, verified downloads, deletes, plain calls, connections opened
 *   and closed), with the server's RSS sampled.
 *
 * Each returns figures; none throws for a failed call (errors are counted
 * and the first few kept), so a run always ends with a report.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rm } from 'node:fs/promises';
import path from 'node:path';
import { RpcConnection, RpcError, type LoadTarget } from './rpc-connection.js';

const MiB = 1024 * 1024;

export interface ErrorTally {
  count: number;
  /** The first few, for the report. */
  readonly samples: string[];
}

function newTally(): ErrorTally {
  return { count: 0, samples: [] };
}

function record(tally: ErrorTally, err: unknown): void {
  tally.count += 1;
  if (tally.samples.length < 5) tally.samples.push(err instanceof RpcError ? `${err.error.code} ${err.error.message}` : String(err));
}

export interface Latency {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export function latencyOf(values: readonly number[]): Latency {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => round(sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0);
  return { p50: at(50), p99: at(99), max: round(sorted.at(-1) ?? 0) };
}

function round(value: number, digits = 1): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

// ---------------------------------------------------------------- rpcStorm

export interface RpcStormOptions {
  readonly connections: number;
  readonly rpcsPerConnection: number;
  /** Calls each connection keeps in flight. Default 10. */
  readonly inFlight?: number;
  /** A stored object for getFileInfo; without one, getFileInfo is left out. */
  readonly knownName?: string;
}

export interface RpcStormResult {
  readonly connections: number;
  readonly rpcs: number;
  readonly errors: ErrorTally;
  readonly seconds: number;
  readonly rpcPerSecond: number;
  readonly latencyMs: Latency;
}

export async function rpcStorm(target: LoadTarget, options: RpcStormOptions): Promise<RpcStormResult> {
  const errors = newTally();
  const latencies: number[] = [];
  const calls: Array<(connection: RpcConnection) => Promise<unknown>> = [
    (c) => c.call('getServerInfo'),
    (c) => c.call('listTransfers', {}),
    (c) => c.call('listFiles', { limit: 20 }),
    ...(options.knownName === undefined ? [] : [(c: RpcConnection) => c.call('getFileInfo', { name: options.knownName })]),
  ];
  const started = performance.now();
  // All connections open at once: that is the point.
  const opened = await Promise.allSettled(Array.from({ length: options.connections }, () => RpcConnection.open(target)));
  const connections = opened.flatMap((outcome) => {
    if (outcome.status === 'fulfilled') return [outcome.value];
    record(errors, outcome.reason);
    return [];
  });
  let rpcs = 0;
  await Promise.all(
    connections.map(async (connection, index) => {
      let next = 0;
      const worker = async () => {
        while (next < options.rpcsPerConnection) {
          const call = calls[(index + next++) % calls.length] as (c: RpcConnection) => Promise<unknown>;
          const callStarted = performance.now();
          try {
            await call(connection);
            latencies.push(performance.now() - callStarted);
          } catch (err) {
            record(errors, err);
          }
          rpcs += 1;
        }
      };
      await Promise.all(Array.from({ length: options.inFlight ?? 10 }, worker));
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(connections.map((connection) => connection.close()));
  return { connections: connections.length, rpcs, errors, seconds: round(seconds, 2), rpcPerSecond: Math.round(rpcs / seconds), latencyMs: latencyOf(latencies) };
}

// ---------------------------------------------------------------- transferStorm

export interface TransferStormOptions {
  readonly count: number;
  readonly sizeBytes: number;
  /** Where source files and downloads go (created; the files are removed afterwards). */
  readonly directory: string;
  /** A key file path; created on the first upload if it does not exist. */
  readonly keyPath: string;
  /** Prefix of the remote names. Default "load/". */
  readonly prefix?: string;
}

export interface TransferStormResult {
  readonly transfers: number;
  readonly bytesEachWay: number;
  readonly verified: number;
  readonly errors: ErrorTally;
  readonly uploadSeconds: number;
  readonly downloadSeconds: number;
  readonly uploadMiBPerSecond: number;
  readonly downloadMiBPerSecond: number;
}

/** Write `size` random bytes to `file` in slices; returns their SHA-256. */
export async function writeRandomFile(file: string, size: number): Promise<string> {
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

export async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export async function transferStorm(target: LoadTarget, options: TransferStormOptions): Promise<TransferStormResult> {
  const errors = newTally();
  const prefix = options.prefix ?? 'load/';
  await mkdir(options.directory, { recursive: true });
  const files = await Promise.all(
    Array.from({ length: options.count }, async (_, index) => {
      const source = path.join(options.directory, `source-${index}.bin`);
      return { index, source, name: `${prefix}${index}.bin`, out: path.join(options.directory, `out-${index}.bin`), sha256: await writeRandomFile(source, options.sizeBytes) };
    }),
  );
  const connection = await RpcConnection.open(target);
  try {
    // One upload first so that a new key file is created once, not raced by all.
    const uploadStarted = performance.now();
    const upload = (file: (typeof files)[number]) =>
      connection.call('upload', { path: file.source, keyPath: options.keyPath, name: file.name, overwrite: true }).catch((err: unknown) => record(errors, err));
    const [first, ...rest] = files;
    if (first !== undefined) await upload(first);
    await Promise.all(rest.map(upload));
    const uploadSeconds = (performance.now() - uploadStarted) / 1000;

    const downloadStarted = performance.now();
    await Promise.all(
      files.map((file) =>
        connection.call('download', { name: file.name, keyPath: options.keyPath, destination: file.out, overwrite: true }).catch((err: unknown) => record(errors, err)),
      ),
    );
    const downloadSeconds = (performance.now() - downloadStarted) / 1000;
    let verified = 0;
    for (const file of files) {
      try {
        if ((await sha256OfFile(file.out)) === file.sha256) verified += 1;
        else record(errors, new Error(`${file.name}: downloaded bytes differ from the source`));
      } catch (err) {
        record(errors, err);
      }
    }
    const megabytes = (options.count * options.sizeBytes) / MiB;
    return {
      transfers: options.count,
      bytesEachWay: options.count * options.sizeBytes,
      verified,
      errors,
      uploadSeconds: round(uploadSeconds, 2),
      downloadSeconds: round(downloadSeconds, 2),
      uploadMiBPerSecond: Math.round(megabytes / uploadSeconds),
      downloadMiBPerSecond: Math.round(megabytes / downloadSeconds),
    };
  } finally {
    await connection.close();
    await Promise.all(files.flatMap((file) => [rm(file.source, { force: true }), rm(file.out, { force: true })]));
  }
}

// ---------------------------------------------------------------- soak

export interface SoakOptions {
  readonly durationMs: number;
  readonly directory: string;
  readonly keyPath: string;
  /** The server's resident set size in bytes. */
  readonly sampleRss: () => Promise<number> | number;
  /** Default 1000 ms. */
  readonly sampleEveryMs?: number;
  /** Workers doing file round trips. Default 2. */
  readonly fileWorkers?: number;
  /** Largest file a round trip uses. Default 4 MiB. */
  readonly maxFileBytes?: number;
  /**
   * Acknowledge each finished transfer (acknowledgeTransfers), as a client
   * that has taken note of the outcome should: the server keeps unacknowledged
   * outcomes for a day. Default true; skipped on a server without the method.
   */
  readonly acknowledge?: boolean;
}

export interface RssSample {
  readonly seconds: number;
  readonly rssMiB: number;
}

export interface SoakResult {
  readonly seconds: number;
  readonly operations: Record<string, number>;
  readonly errors: ErrorTally;
  readonly samples: RssSample[];
  readonly rss: RssSummary;
}

export interface RssSummary {
  readonly firstMiB: number;
  readonly minMiB: number;
  readonly maxMiB: number;
  readonly lastMiB: number;
  /** Mean of each quarter of the run. */
  readonly quarterMeansMiB: number[];
  /** Least-squares slope over the second half of the run. */
  readonly secondHalfSlopeMiBPerMinute: number;
}

export function summariseRss(samples: readonly RssSample[]): RssSummary {
  const values = samples.map((sample) => sample.rssMiB);
  const quarter = Math.max(1, Math.floor(values.length / 4));
  const quarterMeansMiB = [0, 1, 2, 3].map((q) => {
    const slice = values.slice(q * quarter, q === 3 ? values.length : (q + 1) * quarter);
    return round(slice.reduce((sum, value) => sum + value, 0) / Math.max(1, slice.length));
  });
  const half = samples.slice(Math.floor(samples.length / 2));
  const meanT = half.reduce((sum, sample) => sum + sample.seconds, 0) / Math.max(1, half.length);
  const meanR = half.reduce((sum, sample) => sum + sample.rssMiB, 0) / Math.max(1, half.length);
  const covariance = half.reduce((sum, sample) => sum + (sample.seconds - meanT) * (sample.rssMiB - meanR), 0);
  const variance = half.reduce((sum, sample) => sum + (sample.seconds - meanT) ** 2, 0);
  return {
    firstMiB: values[0] ?? 0,
    minMiB: Math.min(...values),
    maxMiB: Math.max(...values),
    lastMiB: values.at(-1) ?? 0,
    quarterMeansMiB,
    secondHalfSlopeMiBPerMinute: variance === 0 ? 0 : round((covariance / variance) * 60, 2),
  };
}

export async function soak(target: LoadTarget, options: SoakOptions): Promise<SoakResult> {
  const errors = newTally();
  const operations: Record<string, number> = {};
  const count = (operation: string) => (operations[operation] = (operations[operation] ?? 0) + 1);
  const started = performance.now();
  const deadline = Date.now() + options.durationMs;
  const samples: RssSample[] = [];
  const sample = async () => {
    try {
      samples.push({ seconds: round((performance.now() - started) / 1000), rssMiB: round((await options.sampleRss()) / MiB) });
    } catch (err) {
      record(errors, err);
    }
  };
  await mkdir(options.directory, { recursive: true });
  await sample();
  const sampler = setInterval(() => void sample(), options.sampleEveryMs ?? 1000);

  const main = await RpcConnection.open(target);
  const guarded = async (operation: string, work: () => Promise<unknown>) => {
    try {
      await work();
      count(operation);
    } catch (err) {
      record(errors, new Error(`${operation}: ${err instanceof Error ? err.message : String(err)}`));
    }
  };

  let acknowledge = options.acknowledge ?? true;
  const fileWorker = async (worker: number) => {
    const connection = await RpcConnection.open(target);
    try {
      for (let round = 0; Date.now() < deadline; round++) {
        const name = `soak/${worker}/${round}.bin`;
        const source = path.join(options.directory, `w${worker}-source.bin`);
        const out = path.join(options.directory, `w${worker}-out.bin`);
        const size = Math.floor(Math.random() * (options.maxFileBytes ?? 4 * MiB));
        const sha256 = await writeRandomFile(source, size);
        const finished: string[] = [];
        await guarded('upload', async () => {
          finished.push((await connection.call<{ transferId: string }>('upload', { path: source, keyPath: options.keyPath, name })).transferId);
        });
        await guarded('getFileInfo', () => connection.call('getFileInfo', { name }));
        await guarded('listFiles', () => connection.call('listFiles', { prefix: `soak/${worker}/`, limit: 50 }));
        await guarded('download', async () => {
          const result = await connection.call<{ transferId: string }>('download', { name, keyPath: options.keyPath, destination: out, overwrite: true });
          finished.push(result.transferId);
          if ((await sha256OfFile(out)) !== sha256) throw new Error('downloaded bytes differ from the source');
        });
        await guarded('deleteFile', () => connection.call('deleteFile', { name }));
        if (acknowledge && finished.length > 0) {
          await guarded('acknowledgeTransfers', async () => {
            await connection.call('acknowledgeTransfers', { transferIds: finished }).catch((err: unknown) => {
              // A server without the method keeps outcomes for a limited time by itself.
              if (err instanceof RpcError && err.error.code === -32601) acknowledge = false;
              else throw err;
            });
          });
        }
      }
    } finally {
      await connection.close();
    }
  };
  const callWorker = async () => {
    while (Date.now() < deadline) {
      await guarded('getServerInfo', () => main.call('getServerInfo'));
      await guarded('listTransfers', () => main.call('listTransfers', {}));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  const churnWorker = async () => {
    while (Date.now() < deadline) {
      await guarded('connect+call+close', async () => {
        const connection = await RpcConnection.open(target);
        try {
          await connection.call('getServerInfo');
        } finally {
          await connection.close();
        }
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };

  try {
    // The first upload creates the key file; the workers then share it.
    await guarded('createKey', async () => {
      await main.call('createKey', { path: options.keyPath }).catch((err: unknown) => {
        if (!(err instanceof RpcError && err.error.data?.['reason'] === 'ALREADY_EXISTS')) throw err;
      });
    });
    await Promise.all([
      ...Array.from({ length: options.fileWorkers ?? 2 }, (_, worker) => fileWorker(worker)),
      callWorker(),
      churnWorker(),
    ]);
  } finally {
    clearInterval(sampler);
    await sample();
    await main.close();
  }
  return { seconds: round((performance.now() - started) / 1000, 1), operations, errors, samples, rss: summariseRss(samples) };
}
