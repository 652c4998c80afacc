/**
 * The handshake over a real wss connection: token, Origin, Host and path
 * decide before any JSON-RPC; refusals are proper HTTP answers.
 */
import https from 'node:https';
import { openClient, startTestServer, tryHandshake, type TestServer } from '../helpers/server.js';

let server: TestServer;
let withOrigins: TestServer;

beforeAll(async () => {
  [server, withOrigins] = await Promise.all([
    startTestServer(),
    startTestServer({ allowOrigins: ['app://cloudlocker', 'null', 'file://'] }),
  ]);
});
afterAll(async () => {
  await Promise.all([server.stop(), withOrigins.stop()]);
});

describe('token', () => {
  it('refuses a handshake with no token with 401 and no upgrade', async () => {
    const outcome = await tryHandshake(server, { token: null });
    expect(outcome.status).toBe(401);
    expect('headers' in outcome && outcome.headers['www-authenticate']).toBe('Bearer realm="cloudlocker"');
  });

  it('refuses a wrong token, by header or query, with 401', async () => {
    expect((await tryHandshake(server, { token: 'x'.repeat(43) })).status).toBe(401);
    expect((await tryHandshake(server, { token: `${server.token}x`, tokenVia: 'query' })).status).toBe(401);
    // The other server's token is a valid token, just not this server's.
    expect((await tryHandshake(server, { token: withOrigins.token })).status).toBe(401);
  });

  it('accepts the token as a bearer header and as the token query parameter', async () => {
    expect((await tryHandshake(server, { tokenVia: 'header' })).status).toBe(101);
    expect((await tryHandshake(server, { tokenVia: 'query' })).status).toBe(101);
  });

  it('never echoes an offered subprotocol', async () => {
    // A client that offers a subprotocol needs one back, so the handshake fails on the client side.
    await expect(tryHandshake(server, { protocols: [server.token] })).rejects.toThrow(/no subprotocol|Server sent no subprotocol/i);
  });

  it('does not log the token, even when it is sent in the query string', async () => {
    await tryHandshake(server, { tokenVia: 'query' });
    await tryHandshake(server, { token: 'wrong-token-wrong-token-wrong', tokenVia: 'query' });
    expect(server.logs.lines.length).toBeGreaterThan(0);
    expect(server.logs.text()).not.toContain(server.token);
    expect(server.logs.text()).not.toContain('wrong-token-wrong-token-wrong');
  });
});

describe('Origin', () => {
  it.each(['https://evil.example', 'null', 'file://', 'app://cloudlocker'])('refuses Origin %s with 403 when not allowlisted', async (origin) => {
    const outcome = await tryHandshake(server, { origin });
    expect(outcome.status).toBe(403);
  });

  it.each(['app://cloudlocker', 'null', 'file://'])('accepts Origin %s when allowlisted', async (origin) => {
    expect((await tryHandshake(withOrigins, { origin })).status).toBe(101);
  });

  it('matches the allowlist exactly', async () => {
    for (const origin of ['app://cloudlocker/', 'app://Cloudlocker', 'app://cloudlocker.evil']) {
      expect((await tryHandshake(withOrigins, { origin })).status).toBe(403);
    }
  });

  it('checks the Origin before the token: a foreign page learns nothing from 401 versus 101', async () => {
    expect((await tryHandshake(server, { origin: 'https://evil.example', token: null })).status).toBe(403);
  });
});

describe('Host (DNS rebinding)', () => {
  it.each(['evil.example', 'evil.example:7575', 'localhost.evil.example'])('refuses Host %s with 403', async (host) => {
    expect((await tryHandshake(server, { host })).status).toBe(403);
  });

  it.each(['localhost', `localhost:${7575}`, '127.0.0.1', '[::1]:1234'])('accepts loopback Host %s', async (host) => {
    expect((await tryHandshake(server, { host })).status).toBe(101);
  });
});

describe('paths and plain HTTPS', () => {
  it('refuses an upgrade on another path with 404', async () => {
    expect((await tryHandshake(server, { path: '/' })).status).toBe(404);
    expect((await tryHandshake(server, { path: '/rpc/extra' })).status).toBe(404);
  });

  it('answers a plain GET with 426 and a hint, serving nothing else', async () => {
    const get = (path: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const url = new URL(server.url);
        https
          .get({ host: url.hostname, port: url.port, path, ca: server.caPem }, (response) => {
            let body = '';
            response.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
            response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
          })
          .on('error', reject);
      });
    const root = await get('/');
    expect(root.status).toBe(426);
    expect(JSON.parse(root.body)).toMatchObject({ name: 'cloudlocker', error: 'Upgrade Required' });
    expect((await get('/rpc')).status).toBe(426);
    expect((await get('/server.json')).status).toBe(404);
  });

  it('speaks TLS 1.2 at least', async () => {
    const url = new URL(server.url);
    const attempt = (maxVersion: 'TLSv1.1' | 'TLSv1.2') =>
      new Promise<string>((resolve) => {
        const request = https.get(
          { host: url.hostname, port: url.port, path: '/', ca: server.caPem, maxVersion, minVersion: 'TLSv1', ciphers: 'DEFAULT:@SECLEVEL=0' },
          (response) => {
            response.resume();
            resolve(`ok ${response.statusCode ?? ''}`);
          },
        );
        request.on('error', (err) => resolve(`error ${err.message}`));
      });
    expect(await attempt('TLSv1.2')).toBe('ok 426');
    expect(await attempt('TLSv1.1')).toMatch(/^error/);
  });
});

describe('after the handshake', () => {
  it('an accepted client can call getServerInfo', async () => {
    const client = await openClient(server, { tokenVia: 'query' });
    const info = await client.request('getServerInfo', {});
    expect(info).toMatchObject({ name: 'cloudlocker', protocolVersion: 1 });
    await client.close();
  });
});
