/**
 * Ranged GETs over plain http read raw (src/storage/s3/raw-get.ts), through
 * S3Storage.readRangeStream against stub servers: the bytes, kept-alive
 * connections, a connection the server closed meanwhile, a chunked answer
 * (sent again through the SDK's handler), errors parsed by the SDK, and a
 * cancel mid-body; then hostile servers (net.createServer answering crafted
 * bytes): bytes after a body, an answer on an idle connection, answers sent
 * twice, resets, malformed heads, endless interim answers, 204 with a body,
 * and an IPv6 literal endpoint.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
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

interface RawStub {
  readonly endpoint: string;
  readonly connections: Socket[];
  /** "GET bytes=from-to" per GET, in order of arrival. */
  readonly requests: string[];
  stop(): Promise<void>;
}

interface RawRequest {
  readonly range: [number, number];
  /** 0 for the first request on its connection, 1 for the next... */
  readonly onConnection: number;
}

/**
 * A hostile S3-ish server: parses request heads off the socket and lets
 * `answer` write whatever bytes it likes for each GET (HEADs, which the SDK's
 * own handler sends, get a sound answer).
 */
async function startRawStub(answer: (socket: Socket, request: RawRequest) => void, host = '127.0.0.1'): Promise<RawStub> {
  const connections: Socket[] = [];
  const requests: string[] = [];
  const server = createTcpServer((socket) => {
    connections.push(socket);
    socket.on('error', () => undefined);
    let pending = '';
    let served = 0;
    socket.on('data', (data: Buffer) => {
      pending += data.toString('latin1');
      for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
        const head = pending.slice(0, end);
        pending = pending.slice(end + 4);
        if (head.startsWith('HEAD ')) {
          socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${CONTENT.length}\r\nETag: "e"\r\nLast-Modified: ${new Date().toUTCString()}\r\n\r\n`);
          continue;
        }
        const match = /\r\nrange: bytes=(\d+)-(\d+)/i.exec(head);
        const from = Number(match?.[1] ?? 0);
        const to = Math.min(CONTENT.length - 1, Number(match?.[2] ?? CONTENT.length - 1));
        requests.push(`GET bytes=${from}-${to}`);
        answer(socket, { range: [from, to], onConnection: served++ });
      }
    });
  });
  server.listen(0, host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    connections,
    requests,
    async stop() {
      for (const socket of connections) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A sound 206 answer of bytes from-to, or of `bytes` claiming to be them (a forgery). */
function partial(from: number, to: number, bytes: Buffer = CONTENT.subarray(from, to + 1), extraHead = ''): Buffer {
  const head =
    'HTTP/1.1 206 Partial Content\r\n' +
    `Content-Range: bytes ${from}-${to}/${CONTENT.length}\r\nContent-Length: ${bytes.length}\r\nETag: "e"\r\n${extraHead}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), bytes]);
}

/** Reads bytes 0-99 of "obj", counting what is served before the read ends or fails. */
function readCounting(storage: { readRangeStream?: (name: string, offset: number, length: number) => AsyncIterable<Uint8Array> }): {
  reading: Promise<void>;
  served: { bytes: number };
} {
  const served = { bytes: 0 };
  const reading = (async () => {
    for await (const piece of storage.readRangeStream!('obj', 0, 100)) served.bytes += piece.length;
  })();
  return { reading, served };
}

/** Rejects if `promise` has not settled within `ms` (a read that hangs to the idle timeout fails the test). */
async function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
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

  describe('against hostile servers, never a byte that is not the answer to the request', () => {
    it('bytes after a body are never read as the next request\'s answer (the connection is not reused)', async () => {
      // Each answer is followed, in the same write, by a forged answer (zeros) to the range asked next.
      const stub = await startRawStub((socket, { range: [from, to] }) => {
        socket.write(Buffer.concat([partial(from, to), partial(100, 199, Buffer.alloc(100))]));
      });
      const storage = createTestS3Storage(stub.endpoint, { maxAttempts: 1 });
      try {
        expect((await collect(storage.readRangeStream!('obj', 0, 100))).bytes.equals(CONTENT.subarray(0, 100))).toBe(true);
        expect((await collect(storage.readRangeStream!('obj', 100, 100))).bytes.equals(CONTENT.subarray(100, 200))).toBe(true);
        expect(stub.requests).toEqual(['GET bytes=0-99', 'GET bytes=100-199']);
        expect(stub.connections).toHaveLength(2);
      } finally {
        await storage.close();
        await stub.stop();
      }
    });

    it('an answer sent on an idle kept-alive connection is never taken for the next request\'s', async () => {
      let forged = false;
      const stub = await startRawStub((socket, { range: [from, to], onConnection }) => {
        socket.write(partial(from, to));
        if (onConnection === 0) {
          // While the connection sits idle in the pool: a forged answer to the range asked next.
          setTimeout(() => {
            socket.write(partial(100, 199, Buffer.alloc(100)));
            forged = true;
          }, 30);
        }
      });
      const storage = createTestS3Storage(stub.endpoint, { maxAttempts: 1 });
      try {
        expect((await collect(storage.readRangeStream!('obj', 0, 100))).bytes.equals(CONTENT.subarray(0, 100))).toBe(true);
        await until(() => forged);
        await new Promise((resolve) => setTimeout(resolve, 100));
        expect((await collect(storage.readRangeStream!('obj', 100, 100))).bytes.equals(CONTENT.subarray(100, 200))).toBe(true);
        expect(stub.requests).toEqual(['GET bytes=0-99', 'GET bytes=100-199']);
      } finally {
        await storage.close();
        await stub.stop();
      }
    });

    it('a server that sends every answer twice: each read still gets its own answer', async () => {
      const stub = await startRawStub((socket, { range: [from, to] }) => {
        socket.write(partial(from, to));
        socket.write(partial(from, to));
      });
      const storage = createTestS3Storage(stub.endpoint, { maxAttempts: 3 });
      try {
        for (const [offset, length] of [[0, 100], [100, 50], [1000, 300], [5, 5]] as const) {
          const { bytes } = await collect(storage.readRangeStream!('obj', offset, length));
          expect(bytes.equals(CONTENT.subarray(offset, offset + length))).toBe(true);
        }
      } finally {
        await storage.close();
        await stub.stop();
      }
    });

    it('a server that resets every request: one connection per SDK attempt, then STORAGE_UNAVAILABLE', async () => {
      const stub = await startRawStub((socket) => socket.resetAndDestroy());
      const storage = createTestS3Storage(stub.endpoint, { maxAttempts: 3 });
      try {
        await expect(collect(storage.readRangeStream!('obj', 0, 100))).rejects.toMatchObject({ reason: 'STORAGE_UNAVAILABLE' });
        expect(stub.requests).toHaveLength(3);
        expect(stub.connections).toHaveLength(3);
      } finally {
        await storage.close();
        await stub.stop();
      }
    });

    it('a reused connection that breaks after part of an answer is not tried again behind the SDK\'s back', async () => {
      // The first request on a connection is answered; later ones get half a status line, then the connection closes.
      const stub = await startRawStub((socket, { range: [from, to], onConnection }) => {
        if (onConnection === 0) socket.write(partial(from, to));
        else socket.end('HTTP/1.1 206 Partial');
      });
      const storage = createTestS3Storage(stub.endpoint, { maxAttempts: 1 });
      try {
        expect((await collect(storage.readRangeStream!('obj', 0, 100))).bytes.equals(CONTENT.subarray(0, 100))).toBe(true);
        await expect(collect(storage.readRangeStream!('obj', 100, 100))).rejects.toMatchObject({ reason: 'STORAGE_UNAVAILABLE' });
        // One SDK attempt: the one (reused) connection, no second one opened for it.
        expect(stub.requests).toEqual(['GET bytes=0-99', 'GET bytes=100-199']);
        expect(stub.connections).toHaveLength(1);
      } finally {
        await storage.close();
        await stub.stop();
      }
    });

    const range = `Content-Range: bytes 0-99/${CONTENT.length}`;
    const body = CONTENT.subarray(0, 100);
    const malformed: Array<[string, string]> = [
      ['a folded header line (obs-fold) hiding a Content-Length', `HTTP/1.1 206 Partial Content\r\n${range}\r\nX-Note: a\r\n Content-Length: 100\r\n\r\n`],
      ['whitespace before the colon', `HTTP/1.1 206 Partial Content\r\n${range}\r\nContent-Length : 100\r\n\r\n`],
      ['a header name that is not a token', `HTTP/1.1 206 Partial Content\r\n${range}\r\nContent-Length: 100\r\nX Bad: 1\r\n\r\n`],
      ['two Content-Lengths (equal)', `HTTP/1.1 206 Partial Content\r\n${range}\r\nContent-Length: 100\r\nContent-Length: 100\r\n\r\n`],
      ['a Content-Length of 16 digits', `HTTP/1.1 206 Partial Content\r\n${range}\r\nContent-Length: 0000000000000100\r\n\r\n`],
      ['Transfer-Encoding with Content-Length', `HTTP/1.1 206 Partial Content\r\n${range}\r\nTransfer-Encoding: chunked\r\nContent-Length: 100\r\n\r\n`],
      ['lines ended by a bare LF', `HTTP/1.1 206 Partial Content\n${range}\nContent-Length: 100\n\n`],
      ['a control character in a header value', `HTTP/1.1 206 Partial Content\r\n${range}\r\nContent-Length: 100\r\nX-Note: a\u0000b\r\n\r\n`],
    ];
    it.each(malformed)('a head with %s is refused quickly as STORAGE_UNAVAILABLE, no byte served', async (_what, head) => {
      const stub = await startRawStub((socket) => socket.write(Buffer.concat([Buffer.from(head, 'latin1'), body])));
      const storage = createTestS3Storage(stub.endpoint, { maxAttempts: 2 });
      try {
        const { reading, served } = readCounting(storage);
        await expect(within(5_000, reading)).rejects.toMatchObject({ reason: 'STORAGE_UNAVAILABLE' });
        expect(served.bytes).toBe(0);
      } finally {
        await storage.close();
        await stub.stop();
      }
    });

    it('endless interim (1xx) answers are refused quickly as STORAGE_UNAVAILABLE', async () => {
      const stub = await startRawStub((socket) => {
        const timer = setInterval(() => socket.write('HTTP/1.1 100 Continue\r\n\r\n'), 5);
        socket.on('close', () => clearInterval(timer));
      });
      const storage = createTestS3Storage(stub.endpoint, { maxAttempts: 1 });
      try {
        await expect(within(5_000, collect(storage.readRangeStream!('obj', 0, 100)))).rejects.toMatchObject({ reason: 'STORAGE_UNAVAILABLE' });
      } finally {
        await storage.close();
        await stub.stop();
      }
    });

    it('a 204 has no body, whatever its Content-Length says: none of its bytes are served', async () => {
      const stub = await startRawStub((socket) => socket.write('HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nxxxxx'));
      const storage = createTestS3Storage(stub.endpoint, { maxAttempts: 1 });
      try {
        const { reading, served } = readCounting(storage);
        await expect(within(5_000, reading)).rejects.toMatchObject({ reason: 'STORAGE_UNAVAILABLE' });
        expect(served.bytes).toBe(0);
      } finally {
        await storage.close();
        await stub.stop();
      }
    });

    it('an IPv6 literal endpoint (http://[::1]:port) is connected to, as is 127.0.0.1', async () => {
      const hosts = ['127.0.0.1'];
      // ::1 where the machine has it; the 127.0.0.1 half runs either way.
      const probe = createTcpServer();
      const hasIpv6 = await new Promise<boolean>((resolve) => {
        probe.once('error', () => resolve(false));
        probe.listen(0, '::1', () => probe.close(() => resolve(true)));
      });
      if (hasIpv6) hosts.push('::1');
      for (const host of hosts) {
        const stub = await startRawStub((socket, { range: [from, to] }) => socket.write(partial(from, to)), host);
        const storage = createTestS3Storage(stub.endpoint, { maxAttempts: 1 });
        try {
          expect(stub.endpoint).toContain(host.includes(':') ? '[::1]' : '127.0.0.1');
          expect((await collect(storage.readRangeStream!('obj', 10, 100))).bytes.equals(CONTENT.subarray(10, 110))).toBe(true);
          expect(stub.requests).toEqual(['GET bytes=10-109']);
        } finally {
          await storage.close();
          await stub.stop();
        }
      }
    });
  });
});
