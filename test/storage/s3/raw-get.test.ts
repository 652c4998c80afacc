/**
 * Ranged GETs over plain http read raw (src/storage/s3/raw-get.ts), through
 * S3Storage.readRangeStream against stub servers: the bytes, kept-alive
 * connections, a connection the server closed meanwhile, a chunked answer
 * (sent again through the SDK's handler), errors parsed by the SDK, and a
 * cancel mid-body.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { CloudlockerError } from '../../../src/errors.js';
import { createTestS3Storage } from '../../helpers/s3rver.js';

const CONTENT = randomBytes(3 * 1024 * 1024 + 123);

interface Stub {
  readonly endpoint: string;
  readonly connections: Socket[];
  readonly requests: string[];
  stop(): Promise<void>;
}

type Answer = (request: IncomingMessage, response: ServerResponse, range: [number, number]) => void;

/** An S3-ish server of CONTENT under any key: HEAD, ranged GET (206, Content-Length), and `answer` to change that. */
async function startObjectStub(answer?: Answer): Promise<Stub> {
  const connections: Socket[] = [];
  const requests: string[] = [];
  const server = createServer((request, response) => {
    request.resume();
    const headers = { 'last-modified': new Date().toUTCString(), etag: '"e"' };
    if (request.method === 'HEAD') {
      response.writeHead(200, { ...headers, 'content-length': String(CONTENT.length) });
      response.end();
      return;
    }
    requests.push(`${request.method} ${request.headers.range ?? ''}`);
    const match = /bytes=(\d+)-(\d+)/.exec(request.headers.range ?? '');
    const from = Number(match?.[1] ?? 0);
    const to = Math.min(CONTENT.length - 1, Number(match?.[2] ?? CONTENT.length - 1));
    if (answer !== undefined) return answer(request, response, [from, to]);
    response.writeHead(206, { ...headers, 'content-length': String(to - from + 1), 'content-range': `bytes ${from}-${to}/${CONTENT.length}` });
    response.end(CONTENT.subarray(from, to + 1));
  });
  server.on('connection', (socket: Socket) => connections.push(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    connections,
    requests,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function until(condition: () => boolean): Promise<void> {
  for (let waited = 0; !condition(); waited += 20) {
    if (waited > 10_000) throw new Error('the condition did not come true in 10 s');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The pieces of readRangeStream, each copied (a piece is valid only until the next is asked for). */
async function collect(stream: AsyncIterable<Uint8Array>): Promise<{ bytes: Buffer; pieces: number }> {
  const pieces: Buffer[] = [];
  for await (const piece of stream) pieces.push(Buffer.from(piece));
  return { bytes: Buffer.concat(pieces), pieces: pieces.length };
}

describe('S3 ranged GETs read raw over plain http', () => {
  it('yields the exact bytes of each range, and reuses one kept-alive connection for reads one after another', async () => {
    const stub = await startObjectStub();
    const storage = createTestS3Storage(stub.endpoint);
    try {
      for (const [offset, length] of [[0, CONTENT.length], [1, 10], [1024 * 1024 - 7, 2 * 1024 * 1024]] as const) {
        const { bytes } = await collect(storage.readRangeStream!('obj', offset, length));
        expect(bytes.equals(CONTENT.subarray(offset, offset + length))).toBe(true);
      }
      expect(Buffer.from(await storage.readRange('obj', 5, 1000)).equals(CONTENT.subarray(5, 1005))).toBe(true);
      expect(stub.requests).toHaveLength(4);
      expect(stub.connections).toHaveLength(1);
      // Past the end: the bytes that exist (the HeadObject that confirms the end goes through the SDK's handler).
      expect((await collect(storage.readRangeStream!('obj', CONTENT.length - 5, 100))).bytes.equals(CONTENT.subarray(-5))).toBe(true);
    } finally {
      await storage.close();
      await stub.stop();
    }
  });

  it('pieces are views of one reused buffer: each is valid until the next is asked for', async () => {
    const stub = await startObjectStub();
    const storage = createTestS3Storage(stub.endpoint);
    try {
      const kept: Uint8Array[] = [];
      let offset = 0;
      for await (const piece of storage.readRangeStream!('obj', 0, CONTENT.length)) {
        // While it is the current piece it holds its bytes, however long the
        // consumer takes (a download may wait for a write before it decrypts it).
        await new Promise((resolve) => setTimeout(resolve, 2));
        expect(Buffer.from(piece).equals(CONTENT.subarray(offset, offset + piece.length))).toBe(true);
        offset += piece.length;
        kept.push(piece);
      }
      expect(offset).toBe(CONTENT.length);
      // The whole 3 MiB came through far fewer, larger buffers than pieces: they were reused.
      expect(new Set(kept.map((piece) => piece.buffer)).size).toBeLessThan(kept.length);
    } finally {
      await storage.close();
      await stub.stop();
    }
  });

  it('a kept-alive connection the server has closed meanwhile is replaced without an error', async () => {
    const stub = await startObjectStub();
    const storage = createTestS3Storage(stub.endpoint, { maxAttempts: 1 });
    try {
      expect((await collect(storage.readRangeStream!('obj', 0, 100))).bytes.equals(CONTENT.subarray(0, 100))).toBe(true);
      for (const socket of stub.connections) socket.destroy();
      expect((await collect(storage.readRangeStream!('obj', 100, 100))).bytes.equals(CONTENT.subarray(100, 200))).toBe(true);
      expect(stub.connections).toHaveLength(2);
    } finally {
      await storage.close();
      await stub.stop();
    }
  });

  it('a chunked answer is asked for again through the SDK, and its bytes come through', async () => {
    const stub = await startObjectStub((_request, response, [from, to]) => {
      response.writeHead(206, { etag: '"e"', 'content-range': `bytes ${from}-${to}/${CONTENT.length}`, 'transfer-encoding': 'chunked' });
      response.write(CONTENT.subarray(from, from + 10));
      response.end(CONTENT.subarray(from + 10, to + 1));
    });
    const storage = createTestS3Storage(stub.endpoint, { maxAttempts: 1 });
    try {
      expect((await collect(storage.readRangeStream!('obj', 7, 5000))).bytes.equals(CONTENT.subarray(7, 5007))).toBe(true);
      expect(stub.requests).toEqual(['GET bytes=7-5006', 'GET bytes=7-5006']);
    } finally {
      await storage.close();
      await stub.stop();
    }
  });

  it('an error answer is the SDK\'s error (NoSuchKey: NOT_FOUND; 503: retried, then STORAGE_UNAVAILABLE)', async () => {
    let status = 404;
    const stub = await startObjectStub((_request, response) => {
      const code = status === 404 ? 'NoSuchKey' : 'SlowDown';
      const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>m</Message></Error>`;
      response.writeHead(status, { 'content-type': 'application/xml', 'content-length': String(Buffer.byteLength(body)) });
      response.end(body);
    });
    const storage = createTestS3Storage(stub.endpoint, { maxAttempts: 2 });
    try {
      await expect(collect(storage.readRangeStream!('obj', 0, 10))).rejects.toMatchObject({ reason: 'NOT_FOUND' });
      status = 503;
      stub.requests.length = 0;
      const failure = await collect(storage.readRangeStream!('obj', 0, 10)).catch((err: unknown) => err);
      expect(failure).toBeInstanceOf(CloudlockerError);
      expect((failure as CloudlockerError).reason).toBe('STORAGE_UNAVAILABLE');
      expect(stub.requests).toHaveLength(2);
    } finally {
      await storage.close();
      await stub.stop();
    }
  });

  it('a cancel mid-body ends the read with CANCELLED and drops that connection', async () => {
    const stub = await startObjectStub((_request, response, [from, to]) => {
      response.writeHead(206, { etag: '"e"', 'content-length': String(to - from + 1), 'content-range': `bytes ${from}-${to}/${CONTENT.length}` });
      // Half now, the rest never: the reader waits mid-body.
      response.write(CONTENT.subarray(from, from + (to - from + 1) / 2));
    });
    const storage = createTestS3Storage(stub.endpoint);
    const controller = new AbortController();
    try {
      let received = 0;
      const reading = (async () => {
        for await (const piece of storage.readRangeStream!('obj', 0, 1000, controller.signal)) {
          received += piece.length;
          if (received === 500) setTimeout(() => controller.abort(), 20);
        }
      })();
      await expect(reading).rejects.toMatchObject({ reason: 'CANCELLED' });
      expect(received).toBe(500);
      await until(() => stub.connections.every((socket) => socket.destroyed));
    } finally {
      await storage.close();
      await stub.stop();
    }
  });
});
