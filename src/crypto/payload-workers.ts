/**
 * Worker threads that seal and open runs of age payload chunks, so that
 * ChaCha20-Poly1305 is not on the JavaScript thread's critical path: it was
 * 0.6 of the JavaScript thread's 1.0 CPU seconds per GiB of a warm age
 * download (docs/benchmarks.md, pw10). Off by default
 * (DEFAULT_PAYLOAD_WORKERS), on with the payloadWorkers setting.
 *
 * A job names a run of consecutive chunks whose input and output both lie
 * in SharedArrayBuffers (the engine's pooled part buffers), so nothing is
 * copied between threads and nothing is allocated per job but the message.
 * The payload key goes as a KeyObject (cloned into the worker's isolate,
 * never as bytes in a message). The caller checks every length before it
 * posts (payload.ts), and the worker writes a chunk's plaintext only after
 * its tag verified, as on the JavaScript thread.
 *
 * The threads start at the first job and stop after IDLE_STOP_MS without one,
 * so an idle server keeps no second isolate. A thread that dies fails its
 * jobs (an internal error: the transfer fails or resumes, nothing
 * unauthenticated was written) and the next job starts a new one.
 */
import { createRequire } from 'node:module';
import type { KeyObject } from 'node:crypto';
import type { Worker as WorkerThread } from 'node:worker_threads';

/**
 * The worker's code, plain CommonJS and self-contained (no import of the
 * project's modules), so that the same string runs from dist/, from the
 * bundle and under jest. Its chunk loop is payload.ts's: nonce = 11-byte
 * big-endian index || final flag; the latin1 string is the same trick as
 * primitives.ts's chachaOpen (young-generation garbage per chunk, not an
 * off-heap Buffer).
 */
const WORKER_SOURCE = `
'use strict';
const { parentPort } = require('node:worker_threads');
const { createCipheriv, createDecipheriv } = require('node:crypto');
const TAG = 16;
const OPTIONS = { authTagLength: TAG };
const nonce = Buffer.alloc(12);
function setNonce(index, isFinal) {
  nonce.fill(0, 0, 7);
  nonce.writeUInt32BE(index, 7);
  nonce[11] = isFinal ? 1 : 0;
}
parentPort.on('message', (job) => {
  const { id, seal, key, firstChunk, lengths, finalChunk } = job;
  const input = Buffer.from(job.input, job.inputOffset, job.inputLength);
  const output = Buffer.from(job.output, job.outputOffset, job.outputLength);
  let from = 0;
  let to = 0;
  try {
    for (let i = 0; i < lengths.length; i++) {
      const index = firstChunk + i;
      const length = lengths[i];
      setNonce(index, index === finalChunk);
      if (seal) {
        const cipher = createCipheriv('chacha20-poly1305', key, nonce, OPTIONS);
        to += output.write(cipher.update(input.subarray(from, from + length), undefined, 'latin1'), to, 'latin1');
        cipher.final();
        to += cipher.getAuthTag().copy(output, to);
      } else {
        const cipherLength = length - TAG;
        const decipher = createDecipheriv('chacha20-poly1305', key, nonce, OPTIONS);
        decipher.setAuthTag(input.subarray(from + cipherLength, from + length));
        const plain = decipher.update(input.subarray(from, from + cipherLength), undefined, 'latin1');
        try {
          decipher.final();
        } catch {
          parentPort.postMessage({ id, failedChunk: index, written: to });
          return;
        }
        to += output.write(plain, to, 'latin1');
      }
      from += length;
    }
    parentPort.postMessage({ id, written: to });
  } catch (err) {
    parentPort.postMessage({ id, error: String(err && err.message) });
  }
});
`;

/** A thread with no job for this long is stopped: an idle server keeps no second isolate. */
const IDLE_STOP_MS = 10_000;
/**
 * The worker's heap: it holds one job's 64 KiB strings at a time. A small
 * young generation keeps its scavenges frequent and cheap and its memory
 * small (an unbounded one grew to tens of MiB in session 9's dlw9).
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 16 } as const;
/** Most threads: more than the machine's cores would only take CPU from the JavaScript thread and the disk. */
export const MAX_PAYLOAD_WORKERS = 4;
/**
 * None by default: on the two-core machine it was measured on, a thread
 * took the cipher off the JavaScript thread (its CPU per GiB 1.0 -> 0.4 s)
 * but not off the machine, whose two cores a 1 GiB transfer already keeps
 * busy with the kernel's copies and writeback; no transfer got faster
 * (docs/benchmarks.md, pw10). With more cores than that, 1 is the setting
 * to try.
 */
export const DEFAULT_PAYLOAD_WORKERS = 0;

export interface PayloadJob {
  /** Seal plaintext chunks into stored ones, or open stored chunks into plaintext. */
  readonly seal: boolean;
  readonly key: KeyObject;
  readonly firstChunk: number;
  /** Each chunk's input length (plaintext to seal, stored bytes to open), checked by the caller. */
  readonly lengths: readonly number[];
  /** Index of the object's final chunk (its nonce's flag), or -1 when it is not among these. */
  readonly finalChunk: number;
  readonly input: Uint8Array;
  readonly output: Uint8Array;
}

export type PayloadJobResult =
  /** Every chunk done; `written` output bytes. */
  | { readonly failedChunk?: undefined; readonly written: number }
  /** Opening: this chunk did not authenticate; the chunks before it (`written` bytes) did. */
  | { readonly failedChunk: number; readonly written: number };

interface Pending {
  readonly resolve: (result: PayloadJobResult) => void;
  readonly reject: (err: Error) => void;
}

/** One thread and the jobs it has been given. */
class PayloadThread {
  readonly pending = new Map<number, Pending>();
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly worker: WorkerThread,
    private readonly idleStopMs: number,
    private readonly onGone: (thread: PayloadThread) => void,
  ) {
    worker.on('message', (message: { id: number; written?: number; failedChunk?: number; error?: string }) => {
      const job = this.pending.get(message.id);
      if (job === undefined) return;
      this.pending.delete(message.id);
      if (message.error !== undefined) job.reject(new Error(`payload worker: ${message.error}`));
      else if (message.failedChunk !== undefined) job.resolve({ failedChunk: message.failedChunk, written: message.written ?? 0 });
      else job.resolve({ written: message.written ?? 0 });
      this.settle();
    });
    const fail = (reason: Error): void => {
      void this.stop();
      for (const job of this.pending.values()) job.reject(reason);
      this.pending.clear();
    };
    worker.on('error', (err: Error) => fail(new Error(`payload worker failed: ${err.message}`)));
    worker.on('exit', (code: number) => fail(new Error(`payload worker exited (code ${code})`)));
    worker.unref();
  }

  post(id: number, job: PayloadJob, pending: Pending): void {
    this.pending.set(id, pending);
    if (this.idleTimer !== undefined) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
    // A thread with jobs keeps the process alive, as the I/O of a transfer does.
    this.worker.ref();
    const { input, output } = job;
    this.worker.postMessage({
      id,
      seal: job.seal,
      key: job.key,
      firstChunk: job.firstChunk,
      lengths: job.lengths,
      finalChunk: job.finalChunk,
      input: input.buffer,
      inputOffset: input.byteOffset,
      inputLength: input.byteLength,
      output: output.buffer,
      outputOffset: output.byteOffset,
      outputLength: output.byteLength,
    });
  }

  private settle(): void {
    if (this.pending.size > 0) return;
    this.worker.unref();
    this.idleTimer = setTimeout(() => void this.stop(), this.idleStopMs);
    this.idleTimer.unref();
  }

  /** Resolves once the thread has exited. */
  async stop(): Promise<void> {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.onGone(this);
    await this.worker.terminate();
  }
}

/**
 * Up to `size` threads, started when needed; a job goes to the thread with
 * the fewest jobs. Owned by one transfer engine, which closes it.
 */
export class PayloadWorkers {
  private readonly threads: PayloadThread[] = [];
  private nextJobId = 1;
  private closed = false;
  /** Threads started so far (tests, diagnostics). */
  threadsStarted = 0;

  constructor(
    readonly size: number,
    private readonly idleStopMs = IDLE_STOP_MS,
  ) {
    if (!Number.isInteger(size) || size < 1 || size > MAX_PAYLOAD_WORKERS) {
      throw new RangeError(`payload workers must be 1 to ${MAX_PAYLOAD_WORKERS}, got ${size}`);
    }
  }

  /** True when `input` and `output` can be handed to a thread without a copy. */
  static canShare(input: Uint8Array, output: Uint8Array): boolean {
    return input.buffer instanceof SharedArrayBuffer && output.buffer instanceof SharedArrayBuffer;
  }

  run(job: PayloadJob): Promise<PayloadJobResult> {
    if (this.closed) return Promise.reject(new Error('payload workers are closed'));
    if (!PayloadWorkers.canShare(job.input, job.output)) {
      return Promise.reject(new TypeError('payload jobs need SharedArrayBuffer-backed input and output'));
    }
    const thread = this.leastBusy();
    const id = this.nextJobId++;
    return new Promise((resolve, reject) => thread.post(id, job, { resolve, reject }));
  }

  /** Stops every thread; jobs still running fail. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.threads.splice(0).map((thread) => thread.stop()));
  }

  /** Threads running now (tests, diagnostics). */
  get running(): number {
    return this.threads.length;
  }

  /** Jobs posted so far (tests, diagnostics). */
  get jobsPosted(): number {
    return this.nextJobId - 1;
  }

  private leastBusy(): PayloadThread {
    let best: PayloadThread | undefined;
    for (const thread of this.threads) {
      if (best === undefined || thread.pending.size < best.pending.size) best = thread;
    }
    if (best !== undefined && (best.pending.size === 0 || this.threads.length >= this.size)) return best;
    const { Worker } = loadWorkerThreads();
    this.threadsStarted += 1;
    const thread = new PayloadThread(new Worker(WORKER_SOURCE, { eval: true, resourceLimits: WORKER_LIMITS }), this.idleStopMs, (gone) => {
      const at = this.threads.indexOf(gone);
      if (at >= 0) this.threads.splice(at, 1);
    });
    this.threads.push(thread);
    return thread;
  }
}

/**
 * node:worker_threads, loaded at the first job: a start never needs it
 * (test/bundle checks that a start does not load it).
 */
let workerThreads: typeof import('node:worker_threads') | undefined;
function loadWorkerThreads(): typeof import('node:worker_threads') {
  workerThreads ??= createRequire(import.meta.url)('node:worker_threads') as typeof import('node:worker_threads');
  return workerThreads;
}
