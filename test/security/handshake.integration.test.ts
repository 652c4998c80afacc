/**
 * Hostile handshakes over real TLS, beyond test/server/server-auth (which
 * covers the plain cases): tokens that are almost right, origins that look
 * allowed, Host headers of DNS-rebinding pages, malformed and duplicated
 * headers, compression offers. Every one is refused before the upgrade (or,
 * for compression, upgraded without it), the socket is closed, nothing is
 * logged as an error and the server keeps serving.
 */
import { WebSocket } from 'ws';
import { openClient, startTestServer, tryHandshake, type TestServer } from '../helpers/server.js';
import { rawHandshake } from './raw-websocket.js';

const ALLOWED_ORIGIN = 'app://cloudlocker';
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ allowOrigins: [ALLOWED_ORIGIN] });
});
afterAll(async () => {
  await server.stop();
});

/** Log lines at pino level error (50) or above. */
function errorLogLines(): string[] {
  return server.logs.lines.filter((line) => (JSON.parse(line) as { level: number }).level >= 50);
}

async function refusedRaw(headers: Record<string, string | readonly string[]>, path?: string) {
  const response = await rawHandshake(server, { headers, ...(path === undefined ? {} : { path }) });
  await response.ended; // the server closes a refused connection itself
  expect(response.headers['upgrade']).toBeUndefined();
  return response;
}

const bearer = () => `Bearer ${server.token}`;

describe('tokens that are almost right', () => {
  /** The real token with its last character changed: same length, same alphabet. */
  const sameLengthWrong = () => `${server.token.slice(0, -1)}${server.token.endsWith('A') ? 'B' : 'A'}`;

  it.each([
    ['the right length but one character off', () => sameLengthWrong()],
    ['the right token in another case', () => (server.token.toUpperCase() === server.token ? server.token.toLowerCase() : server.token.toUpperCase())],
    ['a prefix of the right token', () => server.token.slice(0, 22)],
    ['the right token twice', () => server.token + server.token],
  ])('refuses %s with 401, by header and by query', async (_label, token) => {
    expect((await tryHandshake(server, { token: token() })).status).toBe(401);
    expect((await tryHandshake(server, { token: token(), tokenVia: 'query' })).status).toBe(401);
  });

  it('refuses empty, malformed and non-Bearer Authorization headers', async () => {
    for (const authorization of ['', 'Bearer', 'Bearer ', `Basic ${server.token}`, `Token ${server.token}`, `Bearer ${server.token} extra`, `${server.token}`]) {
      const response = await refusedRaw({ Authorization: authorization });
      expect(response.status).toBe(401);
    }
  });

  it('does not take the token from Sec-WebSocket-Protocol, a cookie or a second Authorization header', async () => {
    expect((await refusedRaw({ 'Sec-WebSocket-Protocol': server.token })).status).toBe(401);
    expect((await refusedRaw({ Cookie: `token=${server.token}` })).status).toBe(401);
    // Node keeps the first of duplicated Authorization headers: the wrong one decides.
    expect((await refusedRaw({ Authorization: ['Bearer wrong-wrong-wrong-wrong-wrong', bearer()] })).status).toBe(401);
  });

  it('refuses a wrong query token even next to a right-looking parameter name', async () => {
    expect((await refusedRaw({}, `/rpc?tokenx=${server.token}`)).status).toBe(401);
    expect((await refusedRaw({}, `/rpc?token=${server.token.slice(1)}&token=${server.token}`)).status).toBe(401);
  });
});

describe('origins that are not exactly allowed', () => {
  it.each([
    'https://evil.example',
    'null',
    'file://',
    'file:///home/me/app/index.html',
    'http://127.0.0.1',
    'https://127.0.0.1:7575',
    'http://[::1]:7575',
    'http://localhost',
    'app://cloudlocker.evil',
    'app://cloudlocker.evil.com',
    'app://evil-cloudlocker',
    'app://cloudlocker:443',
    'app://cloudlocker/',
    'APP://CLOUDLOCKER',
    'app://cloudlocker\t.evil',
    'not a url',
    'app://',
    '*',
  ])('refuses Origin %j with 403, even with the right token', async (origin) => {
    const response = await refusedRaw({ Origin: origin, Authorization: bearer() });
    expect(response.status).toBe(403);
  });

  it('refuses a duplicated Origin header, even when both copies are allowed', async () => {
    expect((await refusedRaw({ Origin: [ALLOWED_ORIGIN, ALLOWED_ORIGIN], Authorization: bearer() })).status).toBe(403);
    expect((await refusedRaw({ Origin: [ALLOWED_ORIGIN, 'https://evil.example'], Authorization: bearer() })).status).toBe(403);
  });

  it('accepts the allowlisted origin exactly (the control case)', async () => {
    expect((await tryHandshake(server, { origin: ALLOWED_ORIGIN })).status).toBe(101);
  });
});

describe('Host headers of DNS-rebinding pages', () => {
  it.each([
    'evil.example',
    '127.0.0.1.evil.com',
    '127.0.0.1.evil.com:7575',
    'localhost.evil.com',
    'localhost.',
    '[::1].evil.com',
    '2130706433',
    '0x7f000001',
    '127.1',
    '0.0.0.0',
    '[::ffff:8.8.8.8]',
  ])('refuses Host %j with 403, even with the right token', async (host) => {
    const response = await refusedRaw({ Host: host, Authorization: bearer() });
    expect(response.status).toBe(403);
  });

  it('refuses a request without a usable Host (400 from the HTTP layer or 403)', async () => {
    const empty = await refusedRaw({ Host: '', Authorization: bearer() });
    expect([400, 403]).toContain(empty.status);
    const url = new URL(server.url);
    const noHost = await rawHandshake(server, {
      rawRequest: `GET /rpc HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${Buffer.alloc(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nAuthorization: ${bearer()}\r\n\r\n`,
    });
    await noHost.ended;
    expect([400, 403]).toContain(noHost.status);
    expect(url.port).not.toBe('');
  });
});

describe('compression', () => {
  it('declines a permessage-deflate offer: the 101 carries no Sec-WebSocket-Extensions', async () => {
    const response = await rawHandshake(server, {
      headers: { Authorization: bearer(), 'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits, x-webkit-deflate-frame' },
    });
    expect(response.status).toBe(101);
    expect(response.headers['sec-websocket-extensions']).toBeUndefined();
    response.socket.destroy();
  });

  it('leaves a ws client that offers compression without it', async () => {
    const ws = new WebSocket(server.url, { ca: server.caPem, headers: { Authorization: bearer() }, perMessageDeflate: true });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    expect(ws.extensions).toBe('');
    ws.terminate();
  });
});

describe('malformed upgrades', () => {
  it.each([
    ['an unsupported WebSocket version', { 'Sec-WebSocket-Version': '99' }],
    ['a malformed Sec-WebSocket-Key', { 'Sec-WebSocket-Key': 'short' }],
    ['Upgrade: h2c instead of websocket', { Upgrade: 'h2c' }],
  ])('answers %s with a 4xx and no upgrade', async (_label, headers) => {
    const response = await refusedRaw({ Authorization: bearer(), ...headers });
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
  });

  it('answers a garbage request line and an oversized head with 400 or 431, and closes', async () => {
    const garbage = await rawHandshake(server, { rawRequest: 'BREW /rpc HTCPCP/1.0\r\n\r\n' });
    await garbage.ended;
    expect(garbage.status).toBe(400);
    const huge = await rawHandshake(server, { headers: { Authorization: bearer(), 'X-Padding': 'p'.repeat(20 * 1024) } });
    await huge.ended;
    expect([400, 431]).toContain(huge.status);
  });

  it('answers a header with a control character (request smuggling attempt) with 400', async () => {
    const response = await rawHandshake(server, {
      rawRequest: `GET /rpc HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: app://cloudlocker\u0000.evil\r\n\r\n`,
    });
    await response.ended;
    expect(response.status).toBe(400);
  });
});

describe('afterwards', () => {
  it('still serves, and logged no error for any of it', async () => {
    const client = await openClient(server);
    expect(await client.request('getServerInfo', {})).toMatchObject({ name: 'cloudlocker' });
    await client.close();
    expect(errorLogLines()).toEqual([]);
    expect(server.logs.text()).not.toContain(server.token);
  });
});
