/**
 * checkHandshake: the Origin allowlist and the token are two separate gates,
 * and passing the first never opens the second (issue 18: a handshake that
 * accepted an allowlisted Origin in place of the token passed every other test).
 */
import { checkHandshake, createTokenMatcher, type HandshakePolicy } from '../../src/server/handshake.js';

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
