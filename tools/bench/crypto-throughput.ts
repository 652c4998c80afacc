/**
 * In-memory throughput of the v1 format against raw Node AES-256-GCM on the
 * same 64 KiB chunks, in the same run (rounds alternate, medians reported).
 * Target: the format at >= 0.5x raw, for encryption and decryption.
 *
 * Run from the repository root:
 *   npx tsc -p tsconfig.build.json && node dist/tools/bench/crypto-throughput.js [MiB] [rounds]
 * (defaults: 64 MiB, 7 rounds; tsc emits even if unrelated files have type
 * errors, so run the node command anyway in that case).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import os from 'node:os';
import {
  CHUNK_SIZE,
  FileDecryptor,
  FileEncryptor,
  HEADER_SIZE,
  STORED_CHUNK_SIZE,
  TAG_SIZE,
  decryptStream,
  encryptStream,
  generateMasterKey,
  storedSizeFor,
} from '../../src/crypto/index.js';

const sizeMiB = Number(process.argv[2] ?? 64);
const rounds = Number(process.argv[3] ?? 7);
const size = sizeMiB * 1024 * 1024;
const chunkCount = size / CHUNK_SIZE;
if (!Number.isInteger(chunkCount)) throw new Error('size must be a multiple of 64 KiB');

const plaintext = randomBytes(size);
const masterKey = generateMasterKey();
const rawKey = randomBytes(32);
const nonce = Buffer.alloc(12);
const rawSealed: Array<{ ciphertext: Buffer; tag: Buffer }> = [];

function rawNonce(index: number, isFinal: boolean): Buffer {
  nonce.writeUInt32BE(index, 7);
  nonce[11] = isFinal ? 1 : 0;
  return nonce;
}

/**
 * Raw Node: one createCipheriv per 64 KiB chunk; the outputs are dropped
 * (kept only by the untimed setup run, for rawDecrypt), so the baseline does
 * the least work Node's API allows.
 */
function rawEncrypt(keep = false): void {
  for (let i = 0; i < chunkCount; i++) {
    const cipher = createCipheriv('aes-256-gcm', rawKey, rawNonce(i, i === chunkCount - 1), { authTagLength: 16 });
    const ciphertext = cipher.update(plaintext.subarray(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE));
    cipher.final();
    const tag = cipher.getAuthTag();
    if (keep) rawSealed.push({ ciphertext, tag });
  }
}

function rawDecrypt(): void {
  for (let i = 0; i < chunkCount; i++) {
    const sealed = rawSealed[i] as { ciphertext: Buffer; tag: Buffer };
    const decipher = createDecipheriv('aes-256-gcm', rawKey, rawNonce(i, i === chunkCount - 1), { authTagLength: 16 });
    decipher.setAuthTag(sealed.tag);
    decipher.update(sealed.ciphertext);
    decipher.final();
  }
}

const stored = Buffer.alloc(storedSizeFor(size));
const decrypted = Buffer.alloc(size);

/** The format through the chunk API, writing into preallocated buffers (as the engine would). */
function formatEncrypt(): void {
  const encryptor = FileEncryptor.create(masterKey);
  encryptor.header.copy(stored);
  for (let i = 0; i < chunkCount; i++) {
    encryptor.encryptChunk(
      i,
      plaintext.subarray(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE),
      i === chunkCount - 1,
      stored,
      HEADER_SIZE + i * STORED_CHUNK_SIZE,
    );
  }
}

function formatDecrypt(): void {
  const decryptor = FileDecryptor.open(masterKey, stored.subarray(0, HEADER_SIZE));
  for (let i = 0; i < chunkCount; i++) {
    const offset = HEADER_SIZE + i * STORED_CHUNK_SIZE;
    decryptor.decryptChunk(i, stored.subarray(offset, offset + STORED_CHUNK_SIZE), i === chunkCount - 1, decrypted, i * CHUNK_SIZE);
  }
}

/** The async-generator streams, fed in 1 MiB pieces (allocating a buffer per chunk). */
async function streamRoundTrip(kind: 'encrypt' | 'decrypt'): Promise<void> {
  const piece = 1024 * 1024;
  const input = kind === 'encrypt' ? plaintext : stored;
  async function* pieces() {
    for (let offset = 0; offset < input.length; offset += piece) yield input.subarray(offset, offset + piece);
  }
  const output = kind === 'encrypt' ? encryptStream(masterKey, pieces()) : decryptStream(masterKey, pieces());
  let total = 0;
  for await (const chunk of output) total += chunk.length;
  const expected = kind === 'encrypt' ? stored.length : size;
  if (total !== expected) throw new Error(`stream ${kind} produced ${total} bytes`);
}

interface Timing {
  wall: number;
  /** User + system CPU seconds of this process: less disturbed than wall time when other processes compete for the cores. */
  cpu: number;
}

async function time(action: () => void | Promise<void>): Promise<Timing> {
  const cpuStart = process.cpuUsage();
  const start = process.hrtime.bigint();
  await action();
  const wall = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = process.cpuUsage(cpuStart);
  return { wall, cpu: (cpu.user + cpu.system) / 1e6 };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
const mibPerSecond = (seconds: number) => sizeMiB / seconds;

async function main(): Promise<void> {
  const runs: Record<string, Timing[]> = {
    'raw encrypt': [],
    'format encrypt': [],
    'raw decrypt': [],
    'format decrypt': [],
    'format encryptStream': [],
    'format decryptStream': [],
  };
  // Warm-up, and a correctness check of the format path.
  rawEncrypt(true);
  rawDecrypt();
  formatEncrypt();
  formatDecrypt();
  if (!decrypted.equals(plaintext)) throw new Error('format round trip failed');
  for (let round = 0; round < rounds; round++) {
    // Alternate the order so that drift (turbo, other load) hits both sides.
    const pairs: Array<[string, () => void | Promise<void>]> =
      round % 2 === 0
        ? [['raw encrypt', () => rawEncrypt()], ['format encrypt', formatEncrypt], ['raw decrypt', rawDecrypt], ['format decrypt', formatDecrypt]]
        : [['format encrypt', formatEncrypt], ['raw encrypt', () => rawEncrypt()], ['format decrypt', formatDecrypt], ['raw decrypt', rawDecrypt]];
    for (const [name, action] of pairs) (runs[name] as Timing[]).push(await time(action));
    runs['format encryptStream']?.push(await time(() => streamRoundTrip('encrypt')));
    runs['format decryptStream']?.push(await time(() => streamRoundTrip('decrypt')));
  }
  const rate = (name: string, clock: keyof Timing) => mibPerSecond(median((runs[name] as Timing[]).map((t) => t[clock])));
  console.log(`crypto throughput: ${sizeMiB} MiB in ${chunkCount} chunks of ${CHUNK_SIZE} bytes (+${TAG_SIZE}-byte tags), ${rounds} rounds, medians`);
  console.log(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log('| path | MiB/s (wall) | vs raw (wall) | MiB/s (CPU time) | vs raw (CPU time) |');
  console.log('|---|---:|---:|---:|---:|');
  for (const name of Object.keys(runs)) {
    const baseline = name.includes('decrypt') ? 'raw decrypt' : 'raw encrypt';
    const cells = (['wall', 'cpu'] as const).map(
      (clock) => `${rate(name, clock).toFixed(0)} | ${(rate(name, clock) / rate(baseline, clock)).toFixed(2)}x`,
    );
    console.log(`| ${name} | ${cells.join(' | ')} |`);
  }
}

await main();
