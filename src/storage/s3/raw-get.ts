/**
 * The AWS SDK's request handler for the ranged GETs of downloads from a
 * plain-http endpoint (a store on the same machine or LAN: Ceph RGW, MinIO,
 * s3rver), reading each response body straight off the socket into one
 * buffer per connection.
 *
 * Why: Node's HTTP client reads a socket 64 KiB at a time into a new buffer
 * and its parser copies every body piece into another new buffer; with the
 * streams and promises around each piece that cost ~3 CPU seconds per GiB
 * on the bench machine, against ~0.4 s for the same GETs read with
 * `net.Socket`'s `onread` into a reused buffer (docs/benchmarks.md, rgw-dl).
 * On a two-core machine that shares its cores with the store, that CPU is
 * download time.
 *
 * The SDK still builds, signs, retries and parses every request: only the
 * HTTP/1.1 exchange is done here. A 2xx answer's body is a RawBody whose
 * pieces are views of the connection's buffer, each valid until the next
 * one is asked for (Storage.readRangeStream's contract says so); any other
 * answer is read whole and handed to the SDK as usual, so its errors are the
 * SDK's. A 2xx answer without a Content-Length (chunked) is refused with
 * RawGetUnsupported, and the caller sends the request through the SDK's own
 * handler instead. https endpoints never come here.
 */
import net from 'node:net';
import { Readable } from 'node:stream';

/** Bytes read from the socket at a time (one buffer per connection; the kernel gives what it has). */
const READ_SIZE = 256 * 1024;
/** A response head larger than this is refused. */
const MAX_HEAD_BYTES = 64 * 1024;
/** A non-2xx answer's body is read whole (an S3 error document); larger ones are refused. */
const MAX_ERROR_BODY_BYTES = 1024 * 1024;
/** Idle keep-alive connections kept per endpoint. */
const MAX_IDLE = 16;

/** What the SDK hands a request handler (@smithy/protocol-http's HttpRequest), as far as used here. */
export interface RawHttpRequest {
  readonly method: string;
  readonly protocol: string;
  readonly hostname: string;
  readonly port?: number;
  readonly path: string;
  readonly query?: Record<string, string | string[] | null>;
  readonly headers: Record<string, string>;
  readonly body?: unknown;
}

export interface RawHttpResponse {
  readonly statusCode: number;
  readonly reason?: string;
  readonly headers: Record<string, string>;
  readonly body: Readable;
}

/** The answer was one this handler does not stream (no Content-Length): send the request through the SDK's handler. */
export class RawGetUnsupported extends Error {
  override readonly name = 'RawGetUnsupported';
}

export interface RawGetOptions {
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
}

/** An error the SDK's retry strategy treats as a dropped connection (transient). */
function dropped(message: string, code = 'ECONNRESET'): Error {
  return Object.assign(new Error(message), { code });
}

/** A function, not an inline test: the signal can abort between two looks at it. */
function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

function abortError(): Error {
  const err = new Error('The request was aborted');
  err.name = 'AbortError';
  return err;
}

/**
 * One keep-alive connection. Every read lands in `buffer` and pauses the
 * socket until the piece is taken and the next one is asked for, so a piece
 * stays valid until then.
 */
class Connection {
  readonly buffer = Buffer.allocUnsafe(READ_SIZE);
  readonly socket: net.Socket;
  readonly connected: Promise<void>;
  /** Bytes of buffer read and not yet taken, from `start` on. */
  private available = 0;
  private start = 0;
  /** A piece was taken: the socket is paused until the next read(). */
  private held = false;
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  /** Requests served; a reused connection that fails before its answer is tried again once on a new one. */
  served = 0;

  constructor(host: string, port: number, options: RawGetOptions) {
    this.socket = net.connect({
      host,
      port,
      noDelay: true,
      onread: {
        buffer: this.buffer,
        callback: (bytes: number) => {
          this.start = 0;
          this.available = bytes;
          this.notify();
          return false;
        },
      },
    });
    this.socket.setTimeout(options.idleTimeoutMs, () => this.fail(dropped('the S3 connection was idle too long', 'ETIMEDOUT')));
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('end', () => {
      this.ended = true;
      this.notify();
    });
    this.socket.on('close', () => {
      this.ended = true;
      this.notify();
    });
    this.connected = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const err = dropped('connecting to the S3 endpoint timed out', 'ETIMEDOUT');
        this.fail(err);
        reject(err);
      }, options.connectTimeoutMs);
      this.socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      this.socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      this.socket.once('close', () => {
        clearTimeout(timer);
        reject(dropped('the S3 connection closed'));
      });
    });
    // Rejections are seen through read(); this one must not go unhandled.
    this.connected.catch(() => undefined);
  }

  get usable(): boolean {
    return !this.ended && this.failure === undefined && !this.socket.destroyed;
  }

  fail(err: Error): void {
    this.failure ??= err;
    this.socket.destroy();
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /**
   * The next bytes read, as a view of `buffer` valid until the next call;
   * null at the end of the connection. At most `limit` bytes are taken; the
   * rest stays for the next call.
   */
  async read(limit: number): Promise<Buffer | null> {
    if (this.available === 0) {
      if (this.held) {
        this.held = false;
        if (this.usable) this.socket.resume();
      }
      while (this.available === 0) {
        if (this.failure !== undefined) throw this.failure;
        if (this.ended) return null;
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
    }
    const start = this.start;
    const take = Math.min(this.available, limit);
    this.available -= take;
    this.start += take;
    this.held = true;
    return this.buffer.subarray(start, start + take);
  }

  /** Give back the last `bytes` taken (a head's read that ran into the body). */
  unread(bytes: number): void {
    this.start -= bytes;
    this.available += bytes;
  }
}

/**
 * A 2xx answer's body: `contentLength` bytes off the connection. Iterated
 * (for await), it yields views of the connection's buffer, each valid until
 * the next is asked for, without a copy. Read as a stream (what the SDK's
 * helpers do), it pushes copies.
 */
export class RawBody extends Readable {
  private remaining: number;
  private finished = false;
  private onAbort: (() => void) | undefined;

  constructor(
    private readonly connection: Connection,
    contentLength: number,
    private readonly release: (connection: Connection, reusable: boolean) => void,
    private readonly signal: AbortSignal | undefined,
  ) {
    super();
    this.remaining = contentLength;
    if (signal !== undefined) {
      this.onAbort = () => this.connection.fail(abortError());
      signal.addEventListener('abort', this.onAbort, { once: true });
    }
    if (contentLength === 0) this.finish(true);
  }

  /** The next piece (a view valid until the next call), or null at the end of the body. */
  async nextPiece(): Promise<Buffer | null> {
    if (this.remaining === 0) {
      this.finish(true);
      return null;
    }
    if (this.finished) throw dropped('the S3 response body was released');
    let piece: Buffer | null;
    try {
      piece = await this.connection.read(this.remaining);
    } catch (err) {
      this.finish(false);
      throw this.signal?.aborted === true ? abortError() : err;
    }
    if (piece === null) {
      this.finish(false);
      throw dropped('the S3 connection closed mid-body');
    }
    this.remaining -= piece.length;
    return piece;
  }

  private finish(reusable: boolean): void {
    if (this.finished) return;
    this.finished = true;
    if (this.onAbort !== undefined) this.signal?.removeEventListener('abort', this.onAbort);
    this.release(this.connection, reusable && this.remaining === 0);
  }

  override [Symbol.asyncIterator](): ReturnType<Readable[typeof Symbol.asyncIterator]> {
    const next = async (): Promise<IteratorResult<Buffer>> => {
      const piece = await this.nextPiece();
      return piece === null ? { done: true, value: undefined } : { done: false, value: piece };
    };
    const iterator: AsyncIterableIterator<Buffer> = {
      next,
      return: async () => {
        // Left before the end: the rest of the body is never read, so the connection cannot be reused.
        this.finish(false);
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator as unknown as ReturnType<Readable[typeof Symbol.asyncIterator]>;
  }

  override _read(): void {
    this.nextPiece().then(
      (piece) => this.push(piece === null ? null : Buffer.from(piece)),
      (err: Error) => this.destroy(err),
    );
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.finished) {
      this.connection.fail(err ?? dropped('the S3 response body was released'));
      this.finish(false);
    }
    callback(err);
  }
}

export class RawGetHandler {
  /** The SDK's HttpHandler interface. */
  readonly metadata = { handlerProtocol: 'http/1.1' };
  private readonly idle = new Map<string, Connection[]>();
  private destroyed = false;

  constructor(private readonly options: RawGetOptions) {}

  /** The SDK's HttpHandler interface. */
  async handle(request: RawHttpRequest, handlerOptions: { abortSignal?: AbortSignal } = {}): Promise<{ response: RawHttpResponse }> {
    if (request.protocol !== 'http:' || request.method !== 'GET' || (request.body !== undefined && request.body !== null)) {
      throw new RawGetUnsupported('only bodiless GETs over http are read raw');
    }
    const signal = handlerOptions.abortSignal;
    if (signal?.aborted === true) throw abortError();
    const endpoint = `${request.hostname}:${request.port ?? 80}`;
    for (let attempt = 0; ; attempt++) {
      const connection = this.take(endpoint) ?? new Connection(request.hostname, request.port ?? 80, this.options);
      const reused = connection.served > 0;
      try {
        return { response: await this.exchange(connection, endpoint, request, signal) };
      } catch (err) {
        connection.fail(err instanceof Error ? err : new Error(String(err)));
        if (aborted(signal)) throw abortError();
        if (err instanceof RawGetUnsupported) throw err;
        // A kept-alive connection the server had closed meanwhile: once more on a new one.
        if (reused && attempt === 0) continue;
        throw err;
      }
    }
  }

  private async exchange(connection: Connection, endpoint: string, request: RawHttpRequest, signal: AbortSignal | undefined): Promise<RawHttpResponse> {
    const onAbort = () => connection.fail(abortError());
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await connection.connected;
      connection.served += 1;
      connection.socket.write(requestHead(request));
      let head = await readHead(connection);
      // An interim answer (100 Continue) comes before the real one.
      while (head.statusCode < 200) head = await readHead(connection);
      const length = head.headers['content-length'];
      const contentLength = length === undefined || !/^\d+$/.test(length) ? undefined : Number(length);
      const chunked = /chunked/i.test(head.headers['transfer-encoding'] ?? '');
      const reusable = head.keepAlive && (chunked || contentLength !== undefined || head.statusCode === 204 || head.statusCode === 304);
      if (head.statusCode >= 200 && head.statusCode < 300) {
        if (contentLength === undefined || chunked) throw new RawGetUnsupported('the store answered without a Content-Length');
        const body = new RawBody(connection, contentLength, (c, ok) => this.release(endpoint, c, ok && reusable), signal);
        return { statusCode: head.statusCode, reason: head.reason, headers: head.headers, body };
      }
      // An error document (or a redirect, a 304): read whole for the SDK to parse.
      const bodiless = head.statusCode === 204 || head.statusCode === 304;
      const bytes = bodiless ? Buffer.alloc(0) : chunked ? await readChunked(connection) : await readExactly(connection, contentLength);
      this.release(endpoint, connection, reusable);
      return { statusCode: head.statusCode, reason: head.reason, headers: head.headers, body: Readable.from([bytes]) };
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  private take(endpoint: string): Connection | undefined {
    const list = this.idle.get(endpoint);
    while (list !== undefined && list.length > 0) {
      const connection = list.pop() as Connection;
      if (connection.usable) return connection;
    }
    return undefined;
  }

  private release(endpoint: string, connection: Connection, reusable: boolean): void {
    if (!reusable || this.destroyed || !connection.usable) {
      connection.socket.destroy();
      return;
    }
    const list = this.idle.get(endpoint) ?? [];
    if (list.length >= MAX_IDLE) {
      connection.socket.destroy();
      return;
    }
    // Idle: a server's close or reset is noticed (and the connection dropped) without a reader.
    connection.socket.resume();
    list.push(connection);
    this.idle.set(endpoint, list);
  }

  /** The SDK's HttpHandler interface. */
  updateHttpClientConfig(): void {}

  /** The SDK's HttpHandler interface. */
  httpHandlerConfigs(): Record<string, never> {
    return {};
  }

  destroy(): void {
    this.destroyed = true;
    for (const list of this.idle.values()) for (const connection of list) connection.socket.destroy();
    this.idle.clear();
  }
}

function requestHead(request: RawHttpRequest): string {
  const query = Object.entries(request.query ?? {})
    .flatMap(([key, value]) =>
      value === null ? [encode(key)] : (Array.isArray(value) ? value : [value]).map((item) => `${encode(key)}=${encode(item)}`),
    )
    .join('&');
  let head = `GET ${request.path}${query === '' ? '' : `?${query}`} HTTP/1.1\r\n`;
  const headers = { ...request.headers };
  if (!Object.keys(headers).some((name) => name.toLowerCase() === 'host')) {
    headers['host'] = request.port === undefined ? request.hostname : `${request.hostname}:${request.port}`;
  }
  for (const [name, value] of Object.entries(headers)) {
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) throw new Error('a request header holds a line break');
    head += `${name}: ${value}\r\n`;
  }
  return `${head}\r\n`;
}

/** As the SDK's query builder escapes (RFC 3986). */
function encode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

interface Head {
  readonly statusCode: number;
  readonly reason: string;
  readonly headers: Record<string, string>;
  readonly keepAlive: boolean;
}

async function readHead(connection: Connection): Promise<Head> {
  let text = '';
  for (;;) {
    const piece = await connection.read(Infinity);
    if (piece === null) throw dropped('the S3 connection closed before an answer');
    text += piece.toString('latin1');
    const end = text.indexOf('\r\n\r\n');
    if (end >= 0) {
      // What followed the head belongs to the body.
      connection.unread(text.length - (end + 4));
      return parseHead(text.slice(0, end));
    }
    if (text.length > MAX_HEAD_BYTES) throw dropped(`the S3 answer's head is longer than ${MAX_HEAD_BYTES} bytes`, 'EPROTO');
  }
}

function parseHead(text: string): Head {
  const [statusLine = '', ...lines] = text.split('\r\n');
  const status = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/.exec(statusLine);
  if (status === null) throw dropped('the S3 answer is not HTTP/1.x', 'EPROTO');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw dropped('the S3 answer has a malformed header', 'EPROTO');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  const connectionHeader = (headers['connection'] ?? '').toLowerCase();
  const keepAlive = status[1] === '1' ? !connectionHeader.includes('close') : connectionHeader.includes('keep-alive');
  return { statusCode: Number(status[2]), reason: status[3] ?? '', headers, keepAlive };
}

/** A body of `length` bytes (or, without a length, up to the connection's end), copied out. */
async function readExactly(connection: Connection, length: number | undefined): Promise<Buffer> {
  const pieces: Buffer[] = [];
  let total = 0;
  while (length === undefined || total < length) {
    const piece = await connection.read(length === undefined ? Infinity : length - total);
    if (piece === null) {
      if (length === undefined) break;
      throw dropped('the S3 connection closed mid-answer');
    }
    total += piece.length;
    if (total > MAX_ERROR_BODY_BYTES) throw dropped('the S3 error answer is too long', 'EPROTO');
    pieces.push(Buffer.from(piece));
  }
  return Buffer.concat(pieces);
}

/** A chunked error document, decoded. */
async function readChunked(connection: Connection): Promise<Buffer> {
  let raw = Buffer.alloc(0);
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = raw.indexOf('\r\n', at);
    if (lineEnd >= 0) {
      const size = parseInt(raw.toString('latin1', at, lineEnd).split(';')[0] ?? '', 16);
      if (!Number.isInteger(size) || size < 0) throw dropped('the S3 answer has a malformed chunk', 'EPROTO');
      if (size === 0) {
        // The last chunk; trailers (none expected) end with an empty line.
        if (raw.indexOf('\r\n\r\n', lineEnd) >= 0 || raw.length >= lineEnd + 4) return Buffer.concat(out);
      } else if (raw.length >= lineEnd + 2 + size + 2) {
        out.push(raw.subarray(lineEnd + 2, lineEnd + 2 + size));
        at = lineEnd + 2 + size + 2;
        continue;
      }
    }
    const piece = await connection.read(Infinity);
    if (piece === null) throw dropped('the S3 connection closed mid-answer');
    raw = Buffer.concat([raw, piece]);
    if (raw.length > MAX_ERROR_BODY_BYTES) throw dropped('the S3 error answer is too long', 'EPROTO');
  }
}
