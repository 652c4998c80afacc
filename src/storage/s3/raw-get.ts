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
 * SDK's. A 2xx answer without a Content-Length (chunked), or an error answer
 * without one, is refused with RawGetUnsupported, and the caller sends the
 * request through the SDK's own handler instead. https endpoints never come
 * here.
 *
 * Kept narrow and strict (RFC 9112), because a byte read as the wrong
 * answer's would be served as file data: a head with folded lines, bare LFs,
 * odd header names, several or malformed Content-Lengths, or both
 * Content-Length and Transfer-Encoding is refused with a retryable error and
 * its connection closed; a connection is kept alive only after a 2xx body
 * that ended exactly where the socket's bytes ended, any byte arriving while
 * it sits idle closes it, and a 206 must be the range asked for.
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
/** Interim (1xx) answers skipped before the real one; more is a broken or hostile server. */
const MAX_INTERIM_ANSWERS = 10;

/** RFC 9110 token: a header name. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A header value (or reason phrase) after trimming: visible characters, spaces, tabs, obs-text; no controls. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** Headers an answer may carry once only (a second one is a conflict, whatever it says). */
const SINGLE_HEADERS = new Set(['content-length', 'content-range']);

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

/** The answer was one this handler does not read (no Content-Length): send the request through the SDK's handler. */
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

/**
 * An answer refused as malformed or not the one asked for: its connection is
 * closed, and the SDK tries again on a new one ($retryable), ending as
 * STORAGE_UNAVAILABLE if the store keeps answering so.
 */
function refused(message: string): Error {
  return Object.assign(new Error(message), { code: 'EPROTO', $retryable: {} });
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

/** The connection broke before an answer (reset, closed, write failed). */
function isDropped(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return code === 'ECONNRESET' || code === 'EPIPE';
}

/** A URL's hostname of an IPv6 literal ("[::1]") is connected to without its brackets. */
function hostOf(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
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
  /** In the idle pool: no request is out, so any byte arriving is not an answer to anything. */
  private idle = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  /** Bytes received in all (a reused connection that failed before any byte of its answer may be tried again). */
  received = 0;
  /** Called once if the connection fails (a 2xx body not read to its end is finished). */
  onFail: (() => void) | undefined;

  constructor(host: string, port: number, options: RawGetOptions) {
    this.socket = net.connect({
      host,
      port,
      noDelay: true,
      onread: {
        buffer: this.buffer,
        callback: (bytes: number) => {
          this.received += bytes;
          if (this.idle) {
            // Bytes nobody asked for (a stray or repeated answer): never kept for the next request.
            this.fail(dropped('the S3 store sent bytes on an idle connection', 'EPROTO'));
            return false;
          }
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

  /** Bytes read off the socket and not taken yet. */
  get buffered(): number {
    return this.available;
  }

  /** Into the idle pool (true) or out of it for a request (false). */
  setIdle(idle: boolean): void {
    this.idle = idle;
  }

  fail(err: Error): void {
    this.failure ??= err;
    this.socket.destroy();
    this.notify();
    const onFail = this.onFail;
    this.onFail = undefined;
    onFail?.();
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
  private readonly onFail = (): void => this.finish(false);

  constructor(
    private readonly connection: Connection,
    contentLength: number,
    private readonly release: (connection: Connection, reusable: boolean) => void,
    private readonly signal: AbortSignal | undefined,
  ) {
    super();
    this.remaining = contentLength;
    // A connection that fails (timeout, reset, abort) while nobody reads the body still finishes it.
    connection.onFail = this.onFail;
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
    if (this.finished) throw aborted(this.signal) ? abortError() : dropped('the S3 response body was released');
    let piece: Buffer | null;
    try {
      piece = await this.connection.read(this.remaining);
    } catch (err) {
      this.finish(false);
      throw aborted(this.signal) ? abortError() : err;
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
    if (this.connection.onFail === this.onFail) this.connection.onFail = undefined;
    if (this.onAbort !== undefined) this.signal?.removeEventListener('abort', this.onAbort);
    // Reused only if the body ended exactly where the bytes read so far ended: anything after it
    // is not the answer to any request (the socket stays paused until then, so nothing more came).
    this.release(this.connection, reusable && this.remaining === 0 && this.connection.buffered === 0);
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
    const port = request.port ?? 80;
    const endpoint = `${request.hostname}:${port}`;
    for (let attempt = 0; ; attempt++) {
      const pooled = this.take(endpoint);
      const connection = pooled ?? new Connection(hostOf(request.hostname), port, this.options);
      const receivedBefore = connection.received;
      try {
        return { response: await this.exchange(connection, endpoint, request, signal) };
      } catch (err) {
        connection.fail(err instanceof Error ? err : new Error(String(err)));
        if (aborted(signal)) throw abortError();
        if (err instanceof RawGetUnsupported) throw err;
        // A kept-alive connection the server had closed meanwhile (reset or closed before any byte
        // of an answer): once more on a new one. Anything else is the SDK's to retry.
        if (pooled !== undefined && attempt === 0 && connection.received === receivedBefore && isDropped(err)) continue;
        throw err;
      }
    }
  }

  private async exchange(connection: Connection, endpoint: string, request: RawHttpRequest, signal: AbortSignal | undefined): Promise<RawHttpResponse> {
    const onAbort = () => connection.fail(abortError());
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await connection.connected;
      connection.socket.write(requestHead(request));
      let head = await readHead(connection);
      // Interim answers (100 Continue) come before the real one; a few at most.
      for (let interim = 1; head.statusCode < 200; interim++) {
        if (head.statusCode === 101 || interim > MAX_INTERIM_ANSWERS) throw refused(`the S3 store sent ${interim} interim answers (${head.statusCode})`);
        head = await readHead(connection);
      }
      const { statusCode, reason, headers, keepAlive } = head;
      const transferEncoding = headers['transfer-encoding'];
      const length = headers['content-length'];
      if (transferEncoding !== undefined && length !== undefined) throw refused('the S3 answer has both Transfer-Encoding and Content-Length');
      const contentLength = length === undefined ? undefined : Number(length);
      if (statusCode === 204 || statusCode === 304) {
        // No body, whatever the head says; the connection is closed rather than trusted with what may follow.
        this.release(endpoint, connection, false);
        return { statusCode, reason, headers, body: Readable.from([Buffer.alloc(0)]) };
      }
      if (statusCode >= 200 && statusCode < 300) {
        if (contentLength === undefined || transferEncoding !== undefined) throw new RawGetUnsupported('the store answered without a Content-Length');
        checkRange(request, statusCode, headers, contentLength);
        const body = new RawBody(connection, contentLength, (c, ok) => this.release(endpoint, c, ok && keepAlive), signal);
        return { statusCode, reason, headers, body };
      }
      // An error document (or a redirect): read whole for the SDK to parse; the connection is not reused.
      if (contentLength === undefined || transferEncoding !== undefined) throw new RawGetUnsupported('the store answered an error without a Content-Length');
      if (contentLength > MAX_ERROR_BODY_BYTES) throw refused(`the S3 error answer is longer than ${MAX_ERROR_BODY_BYTES} bytes`);
      const bytes = await readExactly(connection, contentLength);
      this.release(endpoint, connection, false);
      return { statusCode, reason, headers, body: Readable.from([bytes]) };
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** An idle connection with nothing buffered (bytes arriving while idle close it), out of the pool. */
  private take(endpoint: string): Connection | undefined {
    const list = this.idle.get(endpoint);
    while (list !== undefined && list.length > 0) {
      const connection = list.pop() as Connection;
      if (connection.usable && connection.buffered === 0) {
        connection.setIdle(false);
        return connection;
      }
      connection.socket.destroy();
    }
    return undefined;
  }

  private release(endpoint: string, connection: Connection, reusable: boolean): void {
    if (!reusable || this.destroyed || !connection.usable || connection.buffered !== 0) {
      connection.socket.destroy();
      return;
    }
    const list = this.idle.get(endpoint) ?? [];
    if (list.length >= MAX_IDLE) {
      connection.socket.destroy();
      return;
    }
    // Idle: a server's close or reset is noticed (and the connection dropped) without a reader,
    // and so is any byte sent now (the connection is closed: see Connection's onread).
    connection.setIdle(true);
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

/** A 206 must be the range asked for: a stray answer (or a confused store) is never served as this one. */
function checkRange(request: RawHttpRequest, statusCode: number, headers: Record<string, string>, contentLength: number): void {
  if (statusCode !== 206) return;
  const rangeHeader = Object.entries(request.headers).find(([name]) => name.toLowerCase() === 'range')?.[1];
  const asked = /^bytes=(\d{1,15})-(\d{0,15})$/.exec(rangeHeader ?? '');
  const answered = /^bytes (\d{1,15})-(\d{1,15})\/(?:\d{1,15}|\*)$/.exec(headers['content-range'] ?? '');
  if (asked === null) return;
  if (answered === null) throw refused('the S3 store answered a range without a valid Content-Range');
  const from = Number(answered[1]);
  const to = Number(answered[2]);
  if (from !== Number(asked[1]) || (asked[2] !== '' && to > Number(asked[2])) || to - from + 1 !== contentLength) {
    throw refused(`the S3 store answered bytes ${from}-${to} (${contentLength} bytes) to a request for ${asked[1]}-${asked[2]}`);
  }
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
    // Never more than the limit (and one byte to tell) held as text.
    const piece = await connection.read(MAX_HEAD_BYTES + 1 - text.length);
    if (piece === null) throw dropped('the S3 connection closed before an answer');
    const searchFrom = Math.max(0, text.length - 3);
    text += piece.toString('latin1');
    const end = text.indexOf('\r\n\r\n', searchFrom);
    const headText = end >= 0 ? text.slice(0, end) : text;
    // Every line ends in CRLF: a bare LF or CR is refused at once, not waited on until the idle timeout.
    if (/(?:^|[^\r])\n/.test(headText) || /\r(?!\n)/.test(end >= 0 ? headText : headText.slice(0, -1))) {
      throw refused('the S3 answer\'s head has a line not ended by CRLF');
    }
    if (end >= 0) {
      // What followed the head belongs to the body (it came with the last piece).
      connection.unread(text.length - (end + 4));
      return parseHead(headText);
    }
    if (text.length > MAX_HEAD_BYTES) throw refused(`the S3 answer's head is longer than ${MAX_HEAD_BYTES} bytes`);
  }
}

/** RFC 9112's head, strictly: anything a lenient parser would guess at is refused. */
function parseHead(text: string): Head {
  const [statusLine = '', ...lines] = text.split('\r\n');
  const status = /^HTTP\/1\.([01]) ([1-9]\d{2})(?: (.*))?$/.exec(statusLine);
  if (status === null || !FIELD_VALUE.test(status[3] ?? '')) throw refused('the S3 answer is not HTTP/1.x');
  const headers = Object.create(null) as Record<string, string>;
  for (const line of lines) {
    // No folded lines (starting with a space or tab), no space before the colon, names are tokens.
    const colon = line.indexOf(':');
    const name = colon < 0 ? '' : line.slice(0, colon);
    if (!TOKEN.test(name)) throw refused('the S3 answer has a malformed header line');
    const value = line.slice(colon + 1).replace(/^[\t ]+|[\t ]+$/g, '');
    if (!FIELD_VALUE.test(value)) throw refused('the S3 answer has a header value with control characters');
    const key = name.toLowerCase();
    const earlier = headers[key];
    if (earlier !== undefined && SINGLE_HEADERS.has(key)) throw refused(`the S3 answer has more than one ${key}`);
    headers[key] = earlier === undefined ? value : `${earlier}, ${value}`;
  }
  const length = headers['content-length'];
  if (length !== undefined && !/^\d{1,15}$/.test(length)) throw refused('the S3 answer has a malformed Content-Length');
  const connectionTokens = (headers['connection'] ?? '').toLowerCase().split(',').map((token) => token.trim());
  const keepAlive = status[1] === '1' ? !connectionTokens.includes('close') : connectionTokens.includes('keep-alive');
  return { statusCode: Number(status[2]), reason: status[3] ?? '', headers, keepAlive };
}

/** A body of exactly `length` bytes, copied out. */
async function readExactly(connection: Connection, length: number): Promise<Buffer> {
  const pieces: Buffer[] = [];
  let total = 0;
  while (total < length) {
    const piece = await connection.read(length - total);
    if (piece === null) throw dropped('the S3 connection closed mid-answer');
    total += piece.length;
    pieces.push(Buffer.from(piece));
  }
  return Buffer.concat(pieces);
}
