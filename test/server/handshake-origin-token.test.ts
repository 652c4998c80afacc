/**
 * checkHandshake: the Origin allowlist and the token are two separate gates,
 * and passing the first never opens the second (issue 18: a handshake that
 * accepted an allowlisted Origin in place of the token passed every other test).
 */
import { checkHandshake, createTokenMatcher, isLoopbackBindAddress, isLoopbackHostHeader, type HandshakePolicy } from '../../src/server/handshake.js';

const TOKEN = 'a-token-of-sufficient-length-0123456789';
const ALLOWED = 'app://cloudlocker';

const policy: HandshakePolicy = {
  path: '/rpc',
  tokenMatches: createTokenMatcher(TOKEN),
  allowOrigins: new Set([ALLOWED]),
  requireLoopbackHost: true,
};

describe('checkHandshake with an allowlisted Origin', () => {
  it.each([
    ['no token', { host: '127.0.0.1', origin: ALLOWED }, '/rpc', 'no token'],
    ['a wrong bearer token', { host: '127.0.0.1', origin: ALLOWED, authorization: 'Bearer wrong' }, '/rpc', 'wrong token'],
    ['a wrong query token', { host: '127.0.0.1', origin: ALLOWED }, '/rpc?token=wrong', 'wrong token'],
    ['an empty query token', { host: '127.0.0.1', origin: ALLOWED }, '/rpc?token=', 'no token'],
  ])('refuses %s with 401', (_label, headers, url, reason) => {
    expect(checkHandshake({ url, headers }, policy)).toEqual({ ok: false, status: 401, reason });
  });

  it('accepts it with the right token (the control case)', () => {
    expect(checkHandshake({ url: '/rpc', headers: { host: '127.0.0.1', origin: ALLOWED, authorization: `Bearer ${TOKEN}` } }, policy)).toEqual({ ok: true });
  });

  it('an allowlist that is empty or full of origins changes nothing for a tokenless request', () => {
    for (const allowOrigins of [new Set<string>(), new Set([ALLOWED, 'null', ''])]) {
      expect(checkHandshake({ url: '/rpc', headers: { host: 'localhost' } }, { ...policy, allowOrigins })).toMatchObject({ ok: false, status: 401 });
    }
  });
});

/**
 * Boundaries the mutation audit found unchecked (issue 18): the reasons a
 * refusal gives, how a bearer header is parsed, a query without a token, Host
 * headers that only look like loopback, and which listen addresses are loopback.
 */
describe('checkHandshake: what each refusal says', () => {
  it('gives the reason that is logged, for each gate', () => {
    const headers = { host: '127.0.0.1', authorization: `Bearer ${TOKEN}` };
    expect(checkHandshake({ url: '/other', headers }, policy)).toEqual({ ok: false, status: 404, reason: 'unknown path' });
    expect(checkHandshake({ url: '/rpc', headers: { ...headers, host: 'evil.example' } }, policy)).toEqual({
      ok: false,
      status: 403,
      reason: 'Host header does not name a loopback address',
    });
    expect(checkHandshake({ url: '/rpc', headers: { ...headers, origin: 'https://evil.example' } }, policy)).toEqual({
      ok: false,
      status: 403,
      reason: 'Origin not in the allowlist',
    });
  });

  it('a query without a token parameter is no token, not a crash', () => {
    expect(checkHandshake({ url: '/rpc?other=1', headers: { host: 'localhost' } }, policy)).toEqual({ ok: false, status: 401, reason: 'no token' });
    expect(checkHandshake({ url: '/rpc?', headers: { host: 'localhost' } }, policy)).toEqual({ ok: false, status: 401, reason: 'no token' });
  });
});

describe('checkHandshake: the Authorization header', () => {
  const withAuthorization = (authorization: string) => ({ url: '/rpc', headers: { host: 'localhost', authorization } });

  it.each([`Bearer ${TOKEN}`, `bearer ${TOKEN}`, `Bearer  ${TOKEN}`, `Bearer\t${TOKEN}`, `Bearer ${TOKEN} `, `Bearer ${TOKEN}\t`])(
    'accepts %j',
    (authorization) => expect(checkHandshake(withAuthorization(authorization), policy)).toEqual({ ok: true }),
  );

  it.each([`NotBearer ${TOKEN}`, `x Bearer ${TOKEN}`, `Bearer ${TOKEN} extra`, `Bearer ${TOKEN}x`, `Bearer${TOKEN}`])('refuses %j with 401', (authorization) => {
    expect(checkHandshake(withAuthorization(authorization), policy)).toMatchObject({ ok: false, status: 401 });
  });
});

describe('Host headers and listen addresses that only look like loopback', () => {
  it.each(['[localhost]', '[127.0.0.1]', '[localhost]:80', '::1:80', '[::1]:80:80'])('refuses Host %j', (host) => {
    expect(isLoopbackHostHeader(host)).toBe(false);
  });

  it('isLoopbackBindAddress: localhost in any case, 127/8 and ::1; nothing else', () => {
    expect(['localhost', 'LOCALHOST', '127.0.0.1', '127.9.9.9', '::1', '::ffff:127.0.0.1'].map(isLoopbackBindAddress)).toEqual([true, true, true, true, true, true]);
    expect(['0.0.0.0', '::', '192.168.1.10', 'localhost.evil.example', '', 'evil.example'].map(isLoopbackBindAddress)).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
  });
});
