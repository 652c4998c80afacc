import { checkHandshake, createTokenMatcher, isLoopbackAddress, isLoopbackHostHeader, type HandshakePolicy } from '../../src/server/handshake.js';

const TOKEN = 'a-token-of-sufficient-length-0123456789';

function policy(overrides: Partial<HandshakePolicy> = {}): HandshakePolicy {
  return {
    path: '/rpc',
    tokenMatches: createTokenMatcher(TOKEN),
    allowOrigins: new Set(['app://cloudlocker']),
    requireLoopbackHost: true,
    ...overrides,
  };
}

describe('isLoopbackHostHeader', () => {
  it.each(['localhost', 'LocalHost:7575', '127.0.0.1', '127.0.0.1:7575', '127.1.2.3:1', '[::1]', '[::1]:7575', '[0:0:0:0:0:0:0:1]:80'])(
    'accepts %s',
    (host) => expect(isLoopbackHostHeader(host)).toBe(true),
  );

  it.each([
    '',
    'evil.example',
    'evil.example:7575',
    'localhost.evil.example',
    '127.0.0.1.evil.example',
    '128.0.0.1',
    '[::2]:7575',
    '[::1',
    '[::1]x',
    '::1',
    'localhost:port',
    'localhost:123456',
    '0.0.0.0',
    '192.168.1.10:7575',
  ])('refuses %j', (host) => expect(isLoopbackHostHeader(host)).toBe(false));
});

describe('isLoopbackAddress', () => {
  it('knows loopback in both families, including IPv4-mapped', () => {
    expect(['127.0.0.1', '127.255.0.9', '::1', '::ffff:127.0.0.1'].map(isLoopbackAddress)).toEqual([true, true, true, true]);
    expect(['10.0.0.1', '::', '0.0.0.0', '::ffff:10.0.0.1', 'localhost'].map(isLoopbackAddress)).toEqual([false, false, false, false, false]);
  });
});

describe('checkHandshake', () => {
  const good = { url: '/rpc', headers: { host: '127.0.0.1:7575', authorization: `Bearer ${TOKEN}` } };

  it('accepts the bearer token or the query token', () => {
    expect(checkHandshake(good, policy())).toEqual({ ok: true });
    expect(checkHandshake({ url: `/rpc?token=${encodeURIComponent(TOKEN)}`, headers: { host: 'localhost' } }, policy())).toEqual({ ok: true });
  });

  it('refuses other paths with 404 before looking at anything else', () => {
    for (const url of ['/', '/rpc/', '/RPC', '/rpcx?token=x', '//rpc', 'https://127.0.0.1/rpc']) {
      expect(checkHandshake({ ...good, url }, policy())).toMatchObject({ ok: false, status: 404 });
    }
  });

  it('refuses a missing, empty, wrong or differently-sized token with 401', () => {
    const cases = [
      { url: '/rpc', headers: { host: 'localhost' } },
      { url: '/rpc?token=', headers: { host: 'localhost' } },
      { url: '/rpc?token=short', headers: { host: 'localhost' } },
      { url: '/rpc', headers: { host: 'localhost', authorization: `Bearer ${TOKEN}x` } },
      { url: '/rpc', headers: { host: 'localhost', authorization: `Basic ${TOKEN}` } },
      // A header that is present but wrong is not rescued by a right query token.
      { url: `/rpc?token=${TOKEN}`, headers: { host: 'localhost', authorization: 'Bearer nope' } },
    ];
    for (const request of cases) expect(checkHandshake(request, policy())).toMatchObject({ ok: false, status: 401 });
  });

  it('checks Host only when bound to loopback', () => {
    const rebound = { ...good, headers: { ...good.headers, host: 'attacker.example:7575' } };
    expect(checkHandshake(rebound, policy())).toMatchObject({ ok: false, status: 403 });
    expect(checkHandshake(rebound, policy({ requireLoopbackHost: false }))).toEqual({ ok: true });
    const { host: _host, ...noHost } = good.headers;
    expect(checkHandshake({ url: '/rpc', headers: noHost }, policy())).toMatchObject({ ok: false, status: 403 });
  });

  it('allows no Origin, refuses any Origin not exactly in the allowlist', () => {
    const withOrigin = (origin: string) => ({ ...good, headers: { ...good.headers, origin } });
    expect(checkHandshake(withOrigin('app://cloudlocker'), policy())).toEqual({ ok: true });
    for (const origin of ['null', 'file://', 'app://cloudlocker/', 'APP://cloudlocker', 'https://evil.example', '']) {
      expect(checkHandshake(withOrigin(origin), policy())).toMatchObject({ ok: false, status: 403 });
    }
  });

  it('never puts the token into the reason it gives', () => {
    const verdict = checkHandshake({ url: `/rpc?token=${TOKEN}x`, headers: { host: 'evil' } }, policy({ requireLoopbackHost: false }));
    expect(JSON.stringify(verdict)).not.toContain(TOKEN);
  });
});
