/**
 * Who may open a WebSocket: decided from the HTTP upgrade request alone,
 * before any JSON-RPC is read. Checks, in order: the path (404), the Host
 * header when bound to loopback (403: DNS rebinding), the Origin (403:
 * exact allowlist, no Origin = not a browser = allowed), then the token
 * (401). Pure functions, so every rule is testable without a socket.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import net from 'node:net';

export interface HandshakePolicy {
  /** The only path that upgrades (RPC_PATH). */
  readonly path: string;
  readonly tokenMatches: (candidate: string) => boolean;
  /** Exact, case-sensitive origins a browser may connect from. */
  readonly allowOrigins: ReadonlySet<string>;
  /** True when the server listens on a loopback address: then Host must name loopback too. */
  readonly requireLoopbackHost: boolean;
}

export type HandshakeVerdict =
  | { readonly ok: true }
  /** `reason` is safe to log: it never holds the token or the query string. */
  | { readonly ok: false; readonly status: 401 | 403 | 404; readonly reason: string };

export interface UpgradeRequestLike {
  readonly url?: string | undefined;
  readonly headers: IncomingHttpHeaders;
}

export function checkHandshake(request: UpgradeRequestLike, policy: HandshakePolicy): HandshakeVerdict {
  const url = request.url ?? '';
  const queryStart = url.indexOf('?');
  const path = queryStart === -1 ? url : url.slice(0, queryStart);
  if (path !== policy.path) return { ok: false, status: 404, reason: 'unknown path' };

  if (policy.requireLoopbackHost) {
    const host = request.headers.host;
    if (host === undefined || !isLoopbackHostHeader(host)) {
      return { ok: false, status: 403, reason: 'Host header does not name a loopback address' };
    }
  }

  const origin = request.headers.origin;
  if (origin !== undefined && !policy.allowOrigins.has(origin)) {
    return { ok: false, status: 403, reason: 'Origin not in the allowlist' };
  }

  const token = presentedToken(request.headers.authorization, queryStart === -1 ? '' : url.slice(queryStart + 1));
  if (token === undefined) return { ok: false, status: 401, reason: 'no token' };
  if (!policy.tokenMatches(token)) return { ok: false, status: 401, reason: 'wrong token' };
  return { ok: true };
}

/**
 * A constant-time comparison against the server's token. Both sides are
 * hashed first, so neither the comparison time nor a length check tells an
 * attacker anything about the token's length or content.
 */
export function createTokenMatcher(token: string): (candidate: string) => boolean {
  const expected = sha256(token);
  return (candidate) => timingSafeEqual(sha256(candidate), expected);
}

/** "Authorization: Bearer <token>" wins; else the `token` query parameter. */
function presentedToken(authorization: string | undefined, query: string): string | undefined {
  if (authorization !== undefined) {
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    return match?.[1];
  }
  if (query === '') return undefined;
  const fromQuery = new URLSearchParams(query).get('token');
  return fromQuery === null || fromQuery === '' ? undefined : fromQuery;
}

/** `localhost`, any 127.x.y.z, or `[::1]`, each with an optional port. */
export function isLoopbackHostHeader(host: string): boolean {
  let hostname: string;
  let port = '';
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    if (end === -1) return false;
    hostname = host.slice(1, end);
    port = host.slice(end + 1);
    if (port !== '' && !port.startsWith(':')) return false;
    port = port.slice(1);
    if (!net.isIPv6(hostname)) return false;
  } else {
    const colon = host.lastIndexOf(':');
    hostname = colon === -1 ? host : host.slice(0, colon);
    port = colon === -1 ? '' : host.slice(colon + 1);
    if (host.indexOf(':') !== colon) return false;
  }
  if (port !== '' && !/^\d{1,5}$/.test(port)) return false;
  return hostname.toLowerCase() === 'localhost' || isLoopbackAddress(hostname);
}

/**
 * ::1, and 127.0.0.0/8 written as IPv4-mapped IPv6. Made at the first IPv6
 * check, not when the module loads: creating a BlockList loads Node's
 * blocklist and socket-address modules, which a start need not wait for (issue 17).
 */
let ipv6Loopback: InstanceType<typeof net.BlockList> | undefined;

function ipv6LoopbackList(): InstanceType<typeof net.BlockList> {
  if (ipv6Loopback === undefined) {
    ipv6Loopback = new net.BlockList();
    ipv6Loopback.addAddress('::1', 'ipv6');
    ipv6Loopback.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');
  }
  return ipv6Loopback;
}

/** An IP literal in 127.0.0.0/8 or ::1. */
export function isLoopbackAddress(address: string): boolean {
  if (net.isIPv4(address)) return address.startsWith('127.');
  if (net.isIPv6(address)) return ipv6LoopbackList().check(address, 'ipv6');
  return false;
}

/** True when a listen address means "this machine only". */
export function isLoopbackBindAddress(host: string): boolean {
  return host.toLowerCase() === 'localhost' || isLoopbackAddress(host);
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
