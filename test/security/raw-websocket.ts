/**
 * A WebSocket client by hand, over a raw TLS socket, for what a well-behaved
 * library refuses to do: malformed handshakes, duplicate headers, frames with
 * invalid UTF-8 or broken framing, and a client that never reads.
 *
 *   const conn = await rawHandshake(server, { headers: { Authorization: `Bearer ${server.token}` } });
 *   conn.socket.write(encodeClientFrame({ opcode: 1, payload: Buffer.from([0xff]) }));
 *   expect((await conn.closeFrame()).code).toBe(1007);
 */
import { randomBytes } from 'node:crypto';
import tls from 'node:tls';

export interface RawTarget {
  /** wss://host:port/rpc */
  readonly url: string;
  /** The certificate to trust (PEM). */
  readonly caPem: string;
}

export interface RawHandshakeOptions {
  /** Request target. Default "/rpc". */
  readonly path?: string;
  /** Header lines in order; a value array repeats the header. Host defaults to host:port of the URL. */
  readonly headers?: Readonly<Record<string, string | readonly string[]>>;
  /** Leave out the WebSocket headers (Upgrade, Connection, Sec-WebSocket-Key/Version). */
  readonly plain?: boolean;
  /** Send exactly this request head instead (after TLS), e.g. a malformed one. */
  readonly rawRequest?: string;
  /** Give up waiting for the response head after this long. Default 5000 ms. */
  readonly timeoutMs?: number;
}

export interface RawResponse {
  readonly status: number;
  /** Lower-cased header names; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  /** Bytes received after the response head (a refusal's body, or the first frames). */
  readonly rest: Buffer;
  readonly socket: tls.TLSSocket;
  /** Resolves once the server has closed or reset the connection. */
  readonly ended: Promise<void>;
  /** Everything received after the head so far. */
  received(): Buffer;
  /** The server's close frame (waits for it), or `undefined` when the connection ended without one. */
  closeFrame(timeoutMs?: number): Promise<{ code: number; reason: string } | undefined>;
}

export function connectTls(target: RawTarget): Promise<tls.TLSSocket> {
  const url = new URL(target.url);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port), ca: target.caPem }, () => resolve(socket));
    socket.once('error', reject);
  });
}

export function handshakeHead(target: RawTarget, options: RawHandshakeOptions = {}): string {
  const url = new URL(target.url);
  const lines = [`GET ${options.path ?? url.pathname} HTTP/1.1`];
  const headers: Record<string, string | readonly string[]> = { ...options.headers };
  if (!Object.keys(headers).some((name) => name.toLowerCase() === 'host')) headers['Host'] = url.host;
  if (options.plain !== true) {
    headers['Upgrade'] ??= 'websocket';
    headers['Connection'] ??= 'Upgrade';
    headers['Sec-WebSocket-Key'] ??= randomBytes(16).toString('base64');
    headers['Sec-WebSocket-Version'] ??= '13';
  }
  for (const [name, value] of Object.entries(headers)) {
    for (const item of typeof value === 'string' ? [value] : value) lines.push(`${name}: ${item}`);
  }
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** Open TLS, send a handshake, and resolve with the response head once it has arrived. */
export async function rawHandshake(target: RawTarget, options: RawHandshakeOptions = {}): Promise<RawResponse> {
  const socket = await connectTls(target);
  let buffer = Buffer.alloc(0);
  let headEnd = -1;
  const ended = new Promise<void>((resolve) => {
    socket.once('close', () => resolve());
  });
  socket.on('error', () => undefined);
  const head = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no response head in time')), options.timeoutMs ?? 5000);
    const onData = (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (headEnd === -1) {
        headEnd = buffer.indexOf('\r\n\r\n');
        if (headEnd !== -1) {
          clearTimeout(timer);
          resolve();
        }
      }
    };
    socket.on('data', onData);
    void ended.then(() => {
      clearTimeout(timer);
      if (headEnd === -1) reject(new Error(`connection closed before a response head (got ${JSON.stringify(buffer.toString('latin1'))})`));
    });
  });
  socket.write(options.rawRequest ?? handshakeHead(target, options));
  await head;
  const [statusLine = '', ...headerLines] = buffer.subarray(0, headEnd).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  const bodyStart = headEnd + 4;
  return {
    status,
    headers,
    rest: buffer.subarray(bodyStart),
    socket,
    ended,
    received: () => buffer.subarray(bodyStart),
    closeFrame: async (timeoutMs = 5000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const frames = parseServerFrames(buffer.subarray(bodyStart));
        const close = frames.find((frame) => frame.opcode === 8);
        if (close !== undefined) {
          return {
            code: close.payload.length >= 2 ? close.payload.readUInt16BE(0) : 1005,
            reason: close.payload.subarray(2).toString('utf8'),
          };
        }
        if (socket.destroyed || Date.now() > deadline) return undefined;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
  };
}

export interface ClientFrame {
  /** 0 continuation, 1 text, 2 binary, 8 close, 9 ping, 10 pong, or anything for broken frames. */
  readonly opcode: number;
  readonly payload: Buffer;
  /** Default true. */
  readonly fin?: boolean;
  /** Clients must mask; false builds a frame the server must refuse. Default true. */
  readonly mask?: boolean;
  /** The three reserved bits (0-7); non-zero without an extension is a protocol error. Default 0. */
  readonly rsv?: number;
}

/** One client-to-server frame, as RFC 6455 section 5.2 lays it out. */
export function encodeClientFrame(frame: ClientFrame): Buffer {
  const { payload } = frame;
  const masked = frame.mask ?? true;
  const first = ((frame.fin ?? true) ? 0x80 : 0) | (((frame.rsv ?? 0) & 7) << 4) | (frame.opcode & 0x0f);
  let lengthBytes: Buffer;
  if (payload.length < 126) lengthBytes = Buffer.from([(masked ? 0x80 : 0) | payload.length]);
  else if (payload.length < 65536) {
    lengthBytes = Buffer.alloc(3);
    lengthBytes[0] = (masked ? 0x80 : 0) | 126;
    lengthBytes.writeUInt16BE(payload.length, 1);
  } else {
    lengthBytes = Buffer.alloc(9);
    lengthBytes[0] = (masked ? 0x80 : 0) | 127;
    lengthBytes.writeBigUInt64BE(BigInt(payload.length), 1);
  }
  if (!masked) return Buffer.concat([Buffer.from([first]), lengthBytes, payload]);
  const key = randomBytes(4);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] = (body[i] as number) ^ (key[i % 4] as number);
  return Buffer.concat([Buffer.from([first]), lengthBytes, key, body]);
}

export interface ServerFrame {
  readonly fin: boolean;
  readonly opcode: number;
  readonly payload: Buffer;
}

/** The complete (unmasked) server frames at the start of `bytes`; an incomplete tail is ignored. */
export function parseServerFrames(bytes: Buffer): ServerFrame[] {
  const frames: ServerFrame[] = [];
  let at = 0;
  while (at + 2 <= bytes.length) {
    const first = bytes[at] as number;
    const second = bytes[at + 1] as number;
    let length = second & 0x7f;
    let offset = at + 2;
    if (length === 126) {
      if (offset + 2 > bytes.length) break;
      length = bytes.readUInt16BE(offset);
      offset += 2;
    } else if (length === 127) {
      if (offset + 8 > bytes.length) break;
      length = Number(bytes.readBigUInt64BE(offset));
      offset += 8;
    }
    if (offset + length > bytes.length) break;
    frames.push({ fin: (first & 0x80) !== 0, opcode: first & 0x0f, payload: bytes.subarray(offset, offset + length) });
    at = offset + length;
  }
  return frames;
}

/** A text frame's JSON payloads among server frames. */
export function textMessages(frames: readonly ServerFrame[]): unknown[] {
  return frames.filter((frame) => frame.opcode === 1).map((frame) => JSON.parse(frame.payload.toString('utf8')) as unknown);
}
