/**
 * An allowlisted Origin never stands in for the token. Any local process can
 * send any Origin header (only browsers are held to the truth), so the
 * allowlist only narrows who may connect: the token is checked after it, for
 * every request, whatever the Origin says. The other Origin tests send either
 * the right token or a foreign Origin, so they would not notice a handshake
 * that let an allowlisted Origin through without the token (issue 18).
 */
import { startTestServer, tryHandshake, type TestServer } from '../helpers/server.js';

const ALLOWED_ORIGIN = 'app://cloudlocker';
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ allowOrigins: [ALLOWED_ORIGIN] });
});
afterAll(async () => {
  await server.stop();
});

describe('an allowlisted Origin without the right token', () => {
  const wrongToken = () => `${server.token.slice(0, -1)}${server.token.endsWith('A') ? 'B' : 'A'}`;

  it.each([
    ['no token at all', () => null],
    ['a wrong token', () => wrongToken()],
    ['an empty token', () => ''],
  ])('is refused with 401 when it sends %s, by header and by query', async (_label, token) => {
    for (const tokenVia of ['header', 'query'] as const) {
      const outcome = await tryHandshake(server, { origin: ALLOWED_ORIGIN, token: token(), tokenVia });
      expect(outcome.status).toBe(401);
    }
  });

  it('is accepted with the right token (the control case), so the refusals above are about the token', async () => {
    expect((await tryHandshake(server, { origin: ALLOWED_ORIGIN })).status).toBe(101);
    expect((await tryHandshake(server, { origin: ALLOWED_ORIGIN, tokenVia: 'query' })).status).toBe(101);
  });
});
