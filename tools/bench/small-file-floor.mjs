/**
 * The floor of a durable small-file transfer in Node on this machine (issue 16,
 * docs/benchmarks.md "sfw9"): the file-system calls a small file's upload or
 * download makes, with a stand-in for its age header and payload crypto
 * (ephemeral X25519 through a JWK import, HKDF, ChaCha20-Poly1305 wrap, header
 * HMAC, author stanza: two HKDFs, an HMAC, an Ed25519 signature; one sealed
 * 4 KiB chunk; measured at 223 / 209 us per seal / open against the product's
 * AgeSealer / AgeOpener 262 / 242 us), outside the product, in several shapes.
 * It prints one JSON line: CPU microseconds per file of the process, its user
 * and system parts, the main (JavaScript) thread, the worker threads, the rest
 * (libuv's pool, V8's helpers). CPU the kernel spends outside the process
 * (block-layer and journal threads) is not counted. Wall time is printed,
 * and is no figure on a shared machine.
 *
 *   node tools/bench/small-file-floor.mjs MODE [--files 10000] [--dir DIR] [--batch 16]
 *        [--window 32] [--workers 1] [--no-crypto] [--age-build DIST] [--clean]
 *
 * DIR (default: <tmp>/cloudlocker-small-file-floor) keeps the source tree
 * (src/, made once: --files x 4 KiB in 10 folders) and the download modes'
 * objects (dlsrc/); each run's store or destination is removed after it;
 * --clean removes DIR at the end. --age-build DIST (a build's dist/ folder) seals
 * with the product's own AgeSealer instead of the stand-in (upload modes).
 * Modes (upload unless d*):
 *   a       today's call sequence (sf8): main thread, callback fs API, --window files in flight:
 *           source open, fstat (sync), store temporary open, read, seal, write, fstat (sync),
 *           read-to-EOF, fsync, close (sync), stat of the folder (sync), link, unlink, stat
 *           (sync), the folder's fsync (shared, as durable-fs.ts), source close, a log line
 *   a-sync  the same on the main thread, all synchronous but the fsyncs
 *   b       a worker thread runs each batch's synchronous calls in one message (source: open,
 *           fstat, read, read-to-EOF, fstat, close; store: create the temporary, write, then
 *           the fsyncs through libuv's pool, concurrent, each followed by close, link, unlink,
 *           stat; one folder fsync per batch and folder); the main thread seals
 *   c-all   as b, with the sealing in the worker too: the main thread only dispatches
 *   c-sync  --workers threads, each batch fully synchronous in its thread (fsyncSync)
 *   da, db  a download: today's (object: open, fstat, read, close; destination temporary:
 *           open, writev, fsync, close, link, unlink; folder fsync), and as b
 * Run a with UV_USE_IO_URING=1 for libuv's io_uring file operations.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import {
  createCipheriv, createDecipheriv, createHmac, verify, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, sign,
} from 'node:crypto';

import os from 'node:os';
import { pathToFileURL } from 'node:url';

const dirArg = process.argv.indexOf('--dir');
const ROOT = isMainThread ? (dirArg > 0 ? path.resolve(process.argv[dirArg + 1]) : path.join(os.tmpdir(), 'cloudlocker-small-file-floor')) : workerData.root;
const SRC = path.join(ROOT, 'src');
const FOLDERS = 10;
const SIZE = 4096;
const C = fs.constants;

// ---------------------------------------------------------------- crypto stand-in
function makeKeys() {
  // fixed scratch keys, so that the download modes open what prep-dl stored
  const d = (b) => Buffer.alloc(32, b).toString('base64url');
  const recipientPriv = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: d(7), x: '' }, format: 'jwk' });
  const recipientPub = createPublicKey(recipientPriv);
  const recipientRaw = Buffer.from(recipientPub.export({ format: 'jwk' }).x, 'base64url');
  const signKey = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: d(9), x: '' }, format: 'jwk' });
  const verifyKey = createPublicKey(signKey);
  return { recipientPub, recipientPriv, recipientRaw, signKey, verifyKey };
}
const ZERO_NONCE = Buffer.alloc(12);
function chachaSeal(key, nonce, plain) {
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  const out = Buffer.allocUnsafe(plain.length + 16);
  const written = out.write(cipher.update(plain, undefined, 'latin1'), 0, 'latin1');
  cipher.final();
  out.set(cipher.getAuthTag(), written);
  return out;
}
/** age-like: ephemeral X25519 (JWK import, public export, DH), HKDF wrap key, wrap, header MAC, author stanza (HKDF x2, HMAC, Ed25519 sign), payload key, one sealed chunk. */
function sealFile(keys, name, plain) {
  const fileKey = randomBytes(16);
  const eph = randomBytes(32);
  const ephKey = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: eph.toString('base64url'), x: '' }, format: 'jwk' });
  const ephPub = Buffer.from(createPublicKey(ephKey).export({ format: 'jwk' }).x, 'base64url');
  const shared = diffieHellman({ privateKey: ephKey, publicKey: keys.recipientPub });
  const wrapKey = Buffer.from(hkdfSync('sha256', shared, Buffer.concat([ephPub, keys.recipientRaw]), 'age-encryption.org/v1/X25519', 32));
  const wrapped = chachaSeal(wrapKey, ZERO_NONCE, fileKey);
  const nameKey = Buffer.from(hkdfSync('sha256', fileKey, Buffer.alloc(0), 'name-key', 32));
  const nameTag = createHmac('sha256', nameKey).update(name).digest();
  const commitment = Buffer.from(hkdfSync('sha256', fileKey, Buffer.alloc(0), 'commitment', 32));
  const signature = sign(null, Buffer.concat([Buffer.from('cloudlocker.dev/v2/author/signature\n'), Buffer.alloc(16), commitment, nameTag]), keys.signKey);
  const header = `age-encryption.org/v1\n-> X25519 ${ephPub.toString('base64')}\n${wrapped.toString('base64')}\n-> cloudlocker.dev/author 00\n${Buffer.concat([nameTag, signature]).toString('base64')}\n---`;
  const macKey = Buffer.from(hkdfSync('sha256', fileKey, Buffer.alloc(0), 'header', 32));
  const mac = createHmac('sha256', macKey).update(header).digest('base64');
  const nonce = randomBytes(16);
  const payloadKey = Buffer.from(hkdfSync('sha256', fileKey, nonce, 'payload', 32));
  const chunkNonce = Buffer.alloc(12);
  chunkNonce[11] = 1;
  const body = chachaSeal(payloadKey, chunkNonce, plain);
  return Buffer.concat([Buffer.from(`${header} ${mac}\n`), nonce, body]);
}
/** The download side of sealFile: import the ephemeral public key, DH with the identity, unwrap, header MAC, Ed25519 verify, payload open. */
function openFile(keys, name, stored) {
  const end = stored.indexOf('\n---') + 4;
  const lineEnd = stored.indexOf(0x0a, end);
  const header = stored.subarray(0, end).toString('latin1');
  const lines = header.split('\n');
  const ephPub = Buffer.from(lines[1].slice('-> X25519 '.length), 'base64');
  const wrapped = Buffer.from(lines[2], 'base64');
  const author = Buffer.from(lines[4], 'base64');
  const ephKey = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: ephPub.toString('base64url') }, format: 'jwk' });
  const shared = diffieHellman({ privateKey: keys.recipientPriv, publicKey: ephKey });
  const wrapKey = Buffer.from(hkdfSync('sha256', shared, Buffer.concat([ephPub, keys.recipientRaw]), 'age-encryption.org/v1/X25519', 32));
  const fileKey = chachaOpen(wrapKey, ZERO_NONCE, wrapped);
  const macKey = Buffer.from(hkdfSync('sha256', fileKey, Buffer.alloc(0), 'header', 32));
  const mac = createHmac('sha256', macKey).update(header).digest('base64');
  if (mac !== stored.subarray(end + 1, lineEnd).toString('latin1')) throw new Error('header MAC');
  const nameKey = Buffer.from(hkdfSync('sha256', fileKey, Buffer.alloc(0), 'name-key', 32));
  const nameTag = createHmac('sha256', nameKey).update(name).digest();
  const commitment = Buffer.from(hkdfSync('sha256', fileKey, Buffer.alloc(0), 'commitment', 32));
  if (!verify(null, Buffer.concat([Buffer.from('cloudlocker.dev/v2/author/signature\n'), Buffer.alloc(16), commitment, nameTag]), keys.verifyKey, author.subarray(32))) throw new Error('signature');
  const nonce = stored.subarray(lineEnd + 1, lineEnd + 17);
  const payloadKey = Buffer.from(hkdfSync('sha256', fileKey, nonce, 'payload', 32));
  const chunkNonce = Buffer.alloc(12);
  chunkNonce[11] = 1;
  return chachaOpen(payloadKey, chunkNonce, stored.subarray(lineEnd + 17));
}
function chachaOpen(key, nonce, sealed) {
  const length = sealed.length - 16;
  const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  d.setAuthTag(sealed.subarray(length));
  const text = d.update(sealed.subarray(0, length), undefined, 'latin1');
  d.final();
  return Buffer.from(text, 'latin1');
}
function noOpen(_keys, _name, stored) {
  return Buffer.from(stored);
}
/**
 * --age-build DIR: the product's own AgeSealer from a build (DIR/src/crypto/age/index.js) instead of the
 * stand-in, for the upload modes: its header (X25519 stanza, author stanza, MAC, nonce) and one sealed chunk.
 */
const ageBuildArg = process.argv.indexOf('--age-build');
const ageBuild = isMainThread ? (ageBuildArg > 0 ? path.resolve(process.argv[ageBuildArg + 1]) : undefined) : workerData.ageBuild;
const ageModule = ageBuild === undefined ? undefined : await import(pathToFileURL(path.join(ageBuild, 'src', 'crypto', 'age', 'index.js')).href);
const ageIdentity = ageModule?.AgeIdentity.generate();
function productSeal(_keys, name, plain) {
  const sealer = ageModule.AgeSealer.create({ identity: ageIdentity, name });
  return Buffer.concat([sealer.prefix, sealer.encryptChunk(0, plain, true)]);
}
function noSeal(_keys, _name, plain) {
  return Buffer.from(plain);
}

// ---------------------------------------------------------------- files
function fileList(n) {
  const list = [];
  for (let i = 0; i < n; i++) {
    const rel = path.join(`d${i % FOLDERS}`, `f${String(i).padStart(6, '0')}.bin`);
    list.push(rel);
  }
  return list;
}
function prep(n) {
  for (let d = 0; d < FOLDERS; d++) fs.mkdirSync(path.join(SRC, `d${d}`), { recursive: true });
  for (const rel of fileList(n)) {
    const p = path.join(SRC, rel);
    if (!fs.existsSync(p)) fs.writeFileSync(p, randomBytes(SIZE));
  }
}
/** The download modes' objects (sealed by the stand-in), made once. */
function prepDownloadObjects(n) {
  const keys = makeKeys();
  const list = fileList(n);
  if (fs.existsSync(path.join(DLSRC, list[n - 1]))) return;
  prepStore(DLSRC);
  for (const rel of list) fs.writeFileSync(path.join(DLSRC, rel), sealFile(keys, rel, fs.readFileSync(path.join(SRC, rel))));
}
function prepStore(store) {
  fs.rmSync(store, { recursive: true, force: true });
  fs.mkdirSync(path.join(store, '.tmp'), { recursive: true });
  for (let d = 0; d < FOLDERS; d++) fs.mkdirSync(path.join(store, `d${d}`), { recursive: true });
}

// ---------------------------------------------------------------- thread CPU
function threadCpuNs(tid) {
  try {
    return Number(fs.readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return 0;
  }
}
function selfThreadCpuNs() {
  return Number(fs.readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]);
}
function processCpuNs() {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

// ---------------------------------------------------------------- group directory fsync (as durable-fs.ts)
function groupCommit(fsyncOne) {
  const by = new Map();
  const after = (dir, s) => {
    if (s.next === undefined) return by.delete(dir);
    const { next, startNext } = s;
    s.next = undefined;
    s.startNext = undefined;
    void next.then(() => after(dir, s));
    startNext();
  };
  return (dir) => {
    const s = by.get(dir);
    if (s === undefined) {
      const st = { next: undefined, startNext: undefined };
      by.set(dir, st);
      const running = fsyncOne(dir);
      void running.then(() => after(dir, st));
      return running;
    }
    if (s.next === undefined) {
      const go = new Promise((r) => (s.startNext = r));
      s.next = go.then(() => fsyncOne(dir));
    }
    return s.next;
  };
}
const cb = (fn, ...args) => new Promise((res, rej) => fn(...args, (err, v) => (err ? rej(err) : res(v))));
const syncDir = groupCommit(async (dir) => {
  const fd = fs.openSync(dir, 'r');
  try {
    await cb(fs.fsync, fd);
  } finally {
    fs.closeSync(fd);
  }
});

// ---------------------------------------------------------------- the group log (as appendLog: lines during a write go in the next)
function makeLog(file) {
  const fd = fs.openSync(file, 'a', 0o600);
  let writing = Promise.resolve();
  let pending;
  let pendingWrite;
  return (line) => {
    if (pending !== undefined) {
      pending.push(line);
      return pendingWrite;
    }
    const lines = [line];
    pending = lines;
    const w = writing.then(async () => {
      pending = undefined;
      pendingWrite = undefined;
      const bytes = Buffer.from(lines.join(''));
      await cb(fs.write, fd, bytes, 0, bytes.length, null);
    });
    pendingWrite = w;
    writing = w.catch(() => undefined);
    return w;
  };
}

// ---------------------------------------------------------------- mode a: today's sequence, async, main thread
async function uploadOneA(ctx, rel, i) {
  const src = path.join(SRC, rel);
  const obj = path.join(ctx.store, rel);
  const parent = path.dirname(obj);
  fs.statSync(obj, { throwIfNoEntry: false }); // beforeItem: the object there before (none)
  const fd = await cb(fs.open, src, C.O_RDONLY | C.O_NONBLOCK);
  const st = fs.fstatSync(fd); // small source: synchronous
  const tmp = path.join(ctx.store, '.tmp', `${randomBytes(16).toString('hex')}.tmp`);
  const tfd = await cb(fs.open, tmp, 'wx', 0o600);
  const plain = Buffer.allocUnsafe(SIZE);
  const n = await cb(fs.read, fd, plain, 0, SIZE, 0);
  const sealed = ctx.seal(ctx.keys, rel, plain.subarray(0, n));
  await cb(fs.write, tfd, sealed, 0, sealed.length, 0);
  fs.fstatSync(fd); // assertSourceUnchanged
  const extra = await cb(fs.read, fd, Buffer.allocUnsafe(1), 0, 1, st.size); // assertNoBytesAfter
  if (extra !== 0) throw new Error('SOURCE_CHANGED');
  await cb(fs.fsync, tfd);
  fs.closeSync(tfd);
  fs.statSync(parent); // isDirectory(parent)
  await cb(fs.link, tmp, obj);
  await cb(fs.unlink, tmp);
  fs.statSync(obj); // the published version
  await syncDir(parent);
  await cb(fs.close, fd);
  await ctx.log(`{"member":${i},"done":true}\n`);
}
// a-sync: the same, everything synchronous but the fsyncs (file and folder)
async function uploadOneASync(ctx, rel, i) {
  const src = path.join(SRC, rel);
  const obj = path.join(ctx.store, rel);
  const parent = path.dirname(obj);
  fs.statSync(obj, { throwIfNoEntry: false });
  const fd = fs.openSync(src, C.O_RDONLY | C.O_NONBLOCK);
  const st = fs.fstatSync(fd);
  const plain = Buffer.allocUnsafe(SIZE);
  const n = fs.readSync(fd, plain, 0, SIZE, 0);
  fs.fstatSync(fd);
  if (fs.readSync(fd, Buffer.allocUnsafe(1), 0, 1, st.size) !== 0) throw new Error('SOURCE_CHANGED');
  fs.closeSync(fd);
  const sealed = ctx.seal(ctx.keys, rel, plain.subarray(0, n));
  const tmp = path.join(ctx.store, '.tmp', `${randomBytes(16).toString('hex')}.tmp`);
  const tfd = fs.openSync(tmp, 'wx', 0o600);
  fs.writeSync(tfd, sealed, 0, sealed.length, 0);
  await cb(fs.fsync, tfd);
  fs.closeSync(tfd);
  fs.linkSync(tmp, obj);
  fs.unlinkSync(tmp);
  fs.statSync(obj);
  await syncDir(parent);
  await ctx.log(`{"member":${i},"done":true}\n`);
}
const DLSRC = path.join(ROOT, 'dlsrc');
// da: today's download of a small object (local store, a folder's file)
async function downloadOneA(ctx, rel, i) {
  const obj = path.join(DLSRC, rel);
  const target = path.join(ctx.store, rel);
  await cb(fs.lstat, target).catch(() => undefined); // the group's lstat for the journal's "started" line
  const ofd = fs.openSync(obj, 'r');
  const { size } = fs.fstatSync(ofd);
  const stored = Buffer.allocUnsafe(Math.min(size, 128 * 1024) + 1);
  const n = await cb(fs.read, ofd, stored, 0, stored.length, 0);
  fs.closeSync(ofd);
  const plain = ctx.open(ctx.keys, rel, stored.subarray(0, n));
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  const tfd = await cb(fs.open, tmp, 'wx', 0o600);
  await cb(fs.writev, tfd, [plain], 0);
  await cb(fs.fsync, tfd);
  await cb(fs.close, tfd);
  await cb(fs.link, tmp, target);
  await cb(fs.unlink, tmp);
  await syncDir(path.dirname(target));
  await ctx.log(`{"member":${i},"done":true}\n`);
}
function readObjectsSync(rels) {
  const parts = [];
  for (const rel of rels) {
    const fd = fs.openSync(path.join(DLSRC, rel), 'r');
    try {
      const { size } = fs.fstatSync(fd);
      const b = Buffer.allocUnsafe(Math.min(size, 128 * 1024) + 1);
      parts.push(b.subarray(0, fs.readSync(fd, b, 0, b.length, 0)));
    } finally {
      fs.closeSync(fd);
    }
  }
  const data = Buffer.concat(parts);
  return { buffer: data.buffer, byteOffset: data.byteOffset, lengths: parts.map((p) => p.length) };
}
/** save: temporaries next to their targets, written synchronously, fsyncs concurrent (pool), then link, unlink; one folder fsync per batch and folder. */
async function saveBatch(root, items, data) {
  await Promise.all(items.map(async (it) => {
    const target = path.join(root, it.rel);
    const tmp = path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
    const fd = fs.openSync(tmp, 'wx', 0o600);
    fs.writeSync(fd, data, it.offset, it.length, 0);
    await cb(fs.fsync, fd);
    fs.closeSync(fd);
    fs.linkSync(tmp, target);
    fs.unlinkSync(tmp);
  }));
  const parents = new Set(items.map((it) => path.dirname(path.join(root, it.rel))));
  await Promise.all([...parents].map((p) => syncDir(p)));
}
async function slidingWindow(list, window, one) {
  let next = 0;
  const lane = async () => {
    while (next < list.length) {
      const i = next++;
      await one(list[i], i);
    }
  };
  await Promise.all(Array.from({ length: window }, lane));
}

// ---------------------------------------------------------------- worker side
function readBatchSync(rels) {
  // source: open, fstat, read, read-to-EOF, fstat, close: all synchronous, in this thread
  const buf = Buffer.allocUnsafe(rels.length * SIZE);
  const lengths = [];
  const one = Buffer.allocUnsafe(1);
  for (let k = 0; k < rels.length; k++) {
    const fd = fs.openSync(path.join(SRC, rels[k]), C.O_RDONLY | C.O_NONBLOCK);
    try {
      const st = fs.fstatSync(fd);
      const n = fs.readSync(fd, buf, k * SIZE, SIZE, 0);
      if (fs.readSync(fd, one, 0, 1, st.size) !== 0) throw new Error('SOURCE_CHANGED');
      fs.fstatSync(fd);
      lengths.push(n);
    } finally {
      fs.closeSync(fd);
    }
  }
  return { buffer: buf.buffer, byteOffset: buf.byteOffset, lengths };
}
/** store: create + write synchronously, fsyncs concurrent through the pool, then publish each (link, unlink, stat) and fsync each folder once. */
async function storeBatch(store, items, data, syncMode) {
  const fds = [];
  for (const it of items) {
    const tmp = path.join(store, '.tmp', `${randomBytes(16).toString('hex')}.tmp`);
    const fd = fs.openSync(tmp, 'wx', 0o600);
    fds.push({ fd, tmp, it });
    fs.writeSync(fd, data, it.offset, it.length, 0);
  }
  const publishOne = ({ fd, tmp, it }) => {
    fs.closeSync(fd);
    const obj = path.join(store, it.rel);
    fs.linkSync(tmp, obj);
    fs.unlinkSync(tmp);
    fs.statSync(obj);
  };
  if (syncMode === 'sync') {
    for (const f of fds) {
      fs.fsyncSync(f.fd);
      publishOne(f);
    }
  } else {
    await Promise.all(fds.map(async (f) => {
      await cb(fs.fsync, f.fd);
      publishOne(f);
    }));
  }
  const parents = new Set(items.map((it) => path.dirname(path.join(store, it.rel))));
  if (syncMode === 'sync') {
    for (const p of parents) {
      const dfd = fs.openSync(p, 'r');
      fs.fsyncSync(dfd);
      fs.closeSync(dfd);
    }
  } else {
    await Promise.all([...parents].map((p) => syncDir(p)));
  }
}
function workerMain() {
  const { store, crypto } = workerData;
  const keys = makeKeys();
  const seal = crypto ? (ageModule ? productSeal : sealFile) : noSeal;
  parentPort.on('message', async (msg) => {
    if (msg.op === 'read') {
      const r = readBatchSync(msg.rels);
      parentPort.postMessage({ op: 'read', id: msg.id, ...r }, [r.buffer]);
    } else if (msg.op === 'store') {
      await storeBatch(store, msg.items, Buffer.from(msg.buffer), 'async');
      parentPort.postMessage({ op: 'stored', id: msg.id });
    } else if (msg.op === 'all') {
      // c-all / c-sync: read, seal and store here
      const r = readBatchSync(msg.rels);
      const src = Buffer.from(r.buffer, r.byteOffset);
      const sealed = msg.rels.map((rel, k) => seal(keys, rel, src.subarray(k * SIZE, k * SIZE + r.lengths[k])));
      const data = Buffer.concat(sealed);
      let offset = 0;
      const items = msg.rels.map((rel, k) => {
        const it = { rel, offset, length: sealed[k].length };
        offset += sealed[k].length;
        return it;
      });
      await storeBatch(store, items, data, msg.syncMode);
      parentPort.postMessage({ op: 'stored', id: msg.id });
    } else if (msg.op === 'readObjects') {
      const r = readObjectsSync(msg.rels);
      parentPort.postMessage({ op: 'read', id: msg.id, ...r }, [r.buffer]);
    } else if (msg.op === 'save') {
      await saveBatch(store, msg.items, Buffer.from(msg.buffer));
      parentPort.postMessage({ op: 'saved', id: msg.id });
    } else if (msg.op === 'cpu') {
      parentPort.postMessage({ op: 'cpu', ns: selfThreadCpuNs() });
    }
  });
}

// ---------------------------------------------------------------- main: batched modes
async function runBatched(ctx, list, mode) {
  const workers = Array.from({ length: ctx.workers }, () => new Worker(new URL(import.meta.url), { workerData: { root: ROOT, store: ctx.store, crypto: ctx.crypto, ageBuild } }));
  let nextId = 0;
  const waiting = new Map();
  for (const w of workers) {
    w.on('message', (m) => {
      const resolve = waiting.get(m.id ?? `cpu${workers.indexOf(w)}`);
      waiting.delete(m.id ?? `cpu${workers.indexOf(w)}`);
      resolve?.(m);
    });
    w.on('error', (e) => {
      console.error(e);
      process.exit(1);
    });
  }
  // warm the workers (module load) before measuring
  await Promise.all(workers.map((w, k) => new Promise((res) => { waiting.set(`cpu${k}`, res); w.postMessage({ op: 'cpu' }); })));
  const ask = (w, msg, transfer) => new Promise((res) => {
    const id = nextId++;
    waiting.set(id, res);
    w.postMessage({ ...msg, id }, transfer);
  });
  const workerCpu = async () => (await Promise.all(workers.map((w, k) => new Promise((res) => { waiting.set(`cpu${k}`, (m) => res(m.ns)); w.postMessage({ op: 'cpu' }); })))).reduce((a, b) => a + b, 0);

  const batches = [];
  for (let i = 0; i < list.length; i += ctx.batch) batches.push({ first: i, rels: list.slice(i, i + ctx.batch) });
  const w0 = await workerCpu();
  const t = startMeasure();
  let rr = 0;
  const pick = () => workers[rr++ % workers.length];
  /** The files' bytes in one transferable buffer, and where each one lies in it. */
  const packed = (rels, pieces) => {
    const data = Buffer.concat(pieces);
    let offset = 0;
    const items = rels.map((rel, k) => {
      const item = { rel, offset, length: pieces[k].length };
      offset += pieces[k].length;
      return item;
    });
    return { items, buffer: data.buffer.slice(data.byteOffset, data.byteOffset + data.length) };
  };
  const oneBatch = async ({ first, rels }) => {
    if (mode === 'db') {
      const r = await ask(pick(), { op: 'readObjects', rels });
      const src = Buffer.from(r.buffer, r.byteOffset);
      let at = 0;
      const plains = rels.map((rel, k) => {
        const p = ctx.open(ctx.keys, rel, src.subarray(at, at + r.lengths[k]));
        at += r.lengths[k];
        return p;
      });
      const { items, buffer } = packed(rels, plains);
      await ask(pick(), { op: 'save', items, buffer }, [buffer]);
    } else if (mode === 'b') {
      const r = await ask(pick(), { op: 'read', rels });
      const src = Buffer.from(r.buffer, r.byteOffset);
      const sealed = rels.map((rel, k) => ctx.seal(ctx.keys, rel, src.subarray(k * SIZE, k * SIZE + r.lengths[k])));
      const { items, buffer } = packed(rels, sealed);
      await ask(pick(), { op: 'store', items, buffer }, [buffer]);
    } else {
      await ask(pick(), { op: 'all', rels, syncMode: mode === 'c-sync' ? 'sync' : 'async' });
    }
    await ctx.log(rels.map((_, k) => `{"member":${first + k},"done":true}\n`).join(''));
  };
  const windowBatches = Math.max(1, Math.round(ctx.window / ctx.batch));
  await slidingWindow(batches, windowBatches, oneBatch);
  const m = endMeasure(t);
  m.workerThreadsCpuS = ((await workerCpu()) - w0) / 1e9;
  await Promise.all(workers.map((w) => w.terminate()));
  return m;
}

function startMeasure() {
  return { wall: performance.now(), usage: process.cpuUsage(), main: threadCpuNs(process.pid) };
}
function endMeasure(t) {
  const usage = process.cpuUsage(t.usage);
  return {
    wallS: (performance.now() - t.wall) / 1000,
    processCpuS: (usage.user + usage.system) / 1e6,
    userS: usage.user / 1e6,
    systemS: usage.system / 1e6,
    mainThreadCpuS: (threadCpuNs(process.pid) - t.main) / 1e9,
  };
}

async function main() {
  const args = process.argv.slice(2);
  const mode = args[0];
  const opt = (name, dflt) => {
    const k = args.indexOf(`--${name}`);
    return k < 0 ? dflt : args[k + 1];
  };
  const rest = args;
  const modes = ['a', 'a-sync', 'b', 'c-all', 'c-sync', 'da', 'db'];
  if (!modes.includes(mode) || (ageModule !== undefined && mode.startsWith('d'))) {
    console.error(`usage: small-file-floor.mjs ${modes.join('|')} [--files N] [--dir DIR] [--batch B] [--window F] [--workers W] [--no-crypto] [--age-build DIST] [--clean]` + ' (--age-build: upload modes only)');
    process.exit(2);
  }
  const n = Number(opt('files', 10000));
  prep(n);
  if (mode.startsWith('d')) prepDownloadObjects(n);
  const ctx = {
    store: path.join(ROOT, `store-${mode}-${process.pid}`),
    keys: makeKeys(),
    crypto: !rest.includes('--no-crypto'),
    batch: Number(opt('batch', 16)),
    window: Number(opt('window', 32)),
    workers: Number(opt('workers', 1)),
  };
  ctx.seal = ctx.crypto ? (ageModule ? productSeal : sealFile) : noSeal;
  ctx.open = ctx.crypto ? openFile : noOpen;
  prepStore(ctx.store);
  ctx.log = makeLog(path.join(ctx.store, 'group.done'));
  const list = fileList(n);
  // warm the crypto (first KeyObject imports load OpenSSL providers)
  for (let i = 0; i < 50; i++) ctx.open(ctx.keys, 'x', sealFile(ctx.keys, 'x', Buffer.alloc(SIZE)));
  let m;
  if (mode === 'a' || mode === 'a-sync' || mode === 'da') {
    const one = { a: uploadOneA, 'a-sync': uploadOneASync, da: downloadOneA }[mode];
    const t = startMeasure();
    await slidingWindow(list, ctx.window, (rel, i) => one(ctx, rel, i));
    m = endMeasure(t);
    m.workerThreadsCpuS = 0;
  } else {
    m = await runBatched(ctx, list, mode);
  }
  // check: every object there with the sealed size
  let present = 0;
  for (const rel of list) if (fs.statSync(path.join(ctx.store, rel), { throwIfNoEntry: false })) present++;
  if (present !== n) throw new Error(`only ${present} of ${n} objects stored`);
  if (fs.readdirSync(path.join(ctx.store, '.tmp')).length !== 0) throw new Error('temporaries left');
  if (mode.startsWith('d') && ctx.crypto && !fs.readFileSync(path.join(ctx.store, list[n - 1])).equals(fs.readFileSync(path.join(SRC, list[n - 1])))) throw new Error('download differs');
  fs.rmSync(ctx.store, { recursive: true, force: true });
  const per = (s) => +((s / n) * 1e6).toFixed(1);
  console.log(JSON.stringify({
    mode, n, crypto: ctx.crypto, productAge: ageModule !== undefined, batch: ctx.batch, window: ctx.window, workers: ctx.workers, uring: process.env.UV_USE_IO_URING ?? '',
    perFileUs: { process: per(m.processCpuS), user: per(m.userS), system: per(m.systemS), mainThread: per(m.mainThreadCpuS), workerThreads: per(m.workerThreadsCpuS), poolAndOther: per(m.processCpuS - m.mainThreadCpuS - m.workerThreadsCpuS) },
    wallUsPerFileNotAFigure: per(m.wallS),
  }));
  if (rest.includes('--clean')) fs.rmSync(ROOT, { recursive: true, force: true });
}

if (isMainThread) await main();
else workerMain();
