/**
 * Same-run comparison of the per-chunk ciphers: format v1 (AES-256-GCM,
 * FileEncryptor/FileDecryptor) and format v2 (age: ChaCha20-Poly1305 through
 * Node's native cipher, AgeSealer/AgeOpener), 64 KiB chunks into a reused
 * buffer as the engine does. Alternating rounds, since the machine is noisy.
 *
 *   npx tsc -p tsconfig.build.json && node dist/tools/bench/age-chunk-cipher.js [MiB] [rounds]
 */
import { loadavg } from 'node:os';
import { AgeIdentity, AgeOpener, AgeSealer } from '../../src/crypto/age/index.js';
import { FileDecryptor, FileEncryptor, generateMasterKey } from '../../src/crypto/index.js';

const mib = Number(process.argv[2] ?? 256);
const rounds = Number(process.argv[3] ?? 3);
const CHUNK = 64 * 1024;
const chunks = (mib * 1024 * 1024) / CHUNK;
const plaintext = Buffer.alloc(CHUNK, 7);
const out = Buffer.alloc(CHUNK + 16);
const back = Buffer.alloc(CHUNK);

const key = generateMasterKey();
const identity = AgeIdentity.generate();

function v1(): [number, number] {
  const encryptor = FileEncryptor.create(key);
  let t = process.hrtime.bigint();
  for (let i = 0; i < chunks; i++) encryptor.encryptChunk(i, plaintext, i === chunks - 1, out);
  const seal = Number(process.hrtime.bigint() - t) / 1e9;
  const decryptor = FileDecryptor.open(key, encryptor.header);
  const stored = Buffer.from(encryptor.encryptChunk(0, plaintext, false));
  t = process.hrtime.bigint();
  // Chunk 0 opened again and again: the cost per chunk is the same for every index.
  for (let i = 0; i < chunks; i++) decryptor.decryptChunk(0, stored, false, back);
  return [seal, Number(process.hrtime.bigint() - t) / 1e9];
}

function age(): [number, number] {
  const sealer = AgeSealer.create({ identity, name: 'bench' });
  let t = process.hrtime.bigint();
  for (let i = 0; i < chunks; i++) sealer.encryptChunk(i, plaintext, i === chunks - 1, out);
  const seal = Number(process.hrtime.bigint() - t) / 1e9;
  const opener = AgeOpener.open(sealer.prefix, { identity, name: 'bench' });
  const stored = Buffer.from(sealer.encryptChunk(0, plaintext, false));
  t = process.hrtime.bigint();
  for (let i = 0; i < chunks; i++) opener.decryptChunk(0, stored, false, back);
  return [seal, Number(process.hrtime.bigint() - t) / 1e9];
}

const rate = (seconds: number) => `${(mib / seconds).toFixed(0)} MiB/s`;
console.log(`${mib} MiB per run, ${rounds} alternating rounds, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
const sums = { v1: [0, 0], age: [0, 0] };
for (let round = 0; round < rounds; round++) {
  const a = v1();
  const b = age();
  sums.v1[0] += a[0]; sums.v1[1] += a[1]; sums.age[0] += b[0]; sums.age[1] += b[1];
  console.log(`round ${round + 1}: v1 seal ${rate(a[0])} open ${rate(a[1])} | age seal ${rate(b[0])} open ${rate(b[1])}`);
}
console.log(`age/v1 throughput ratio: seal ${(sums.v1[0] / sums.age[0]).toFixed(2)}, open ${(sums.v1[1] / sums.age[1]).toFixed(2)}`);
console.log(`load after ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
