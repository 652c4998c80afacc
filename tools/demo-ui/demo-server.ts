/**
 * A tiny static HTTP server for the demo page: the page itself and the built
 * ES modules it imports (dist/src/client, dist/protocol, dist/tools/demo-ui),
 * nothing else. Loopback only. Its origin (http://127.0.0.1:<port>) is what
 * the service must allowlist (--allow-origin).
 */
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

export interface DemoServerOptions {
  /** The repository root (holding tools/demo-ui/index.html and dist/). */
  readonly root: string;
  /** Default 0: a free port. */
  readonly port?: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
}

export interface DemoServer {
  /** http://127.0.0.1:<port>: the page's origin. */
  readonly origin: string;
  /** The page's address with the connection details in the fragment (which browsers never send to a server). */
  pageUrl(connection: { url: string; token: string }): string;
  close(): Promise<void>;
}

/** URL path prefixes served from dist/, and nothing outside them. */
const SERVED_DIST_DIRECTORIES = ['/dist/src/client/', '/dist/protocol/', '/dist/tools/demo-ui/'];

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

function resolveRequest(root: string, pathname: string): string | undefined {
  if (pathname === '/' || pathname === '/index.html') return path.join(root, 'tools', 'demo-ui', 'index.html');
  if (!SERVED_DIST_DIRECTORIES.some((prefix) => pathname.startsWith(prefix))) return undefined;
  const file = path.join(root, path.normalize(pathname));
  // normalize() has folded any "..": the file must still be under a served directory.
  const inside = SERVED_DIST_DIRECTORIES.some((prefix) => file.startsWith(path.join(root, prefix)));
  return inside && CONTENT_TYPES[path.extname(file)] !== undefined ? file : undefined;
}

export async function startDemoServer(options: DemoServerOptions): Promise<DemoServer> {
  const host = options.host ?? '127.0.0.1';
  const server = http.createServer((request, response) => {
    const send = (status: number, body: string | Buffer, type = 'text/plain; charset=utf-8') => {
      response.writeHead(status, {
        'Content-Type': type,
        'Cache-Control': 'no-store',
        'X-Content-Type-Options': 'nosniff',
        'Referrer-Policy': 'no-referrer',
        // The page may talk to its own origin and to a wss service on loopback, nothing else.
        'Content-Security-Policy': "default-src 'self'; connect-src wss://127.0.0.1:* wss://localhost:*; style-src 'self' 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
      });
      response.end(body);
    };
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      send(405, 'GET only\n');
      return;
    }
    let pathname: string;
    try {
      pathname = decodeURIComponent(new URL(request.url ?? '/', 'http://demo').pathname);
    } catch {
      send(400, 'bad path\n');
      return;
    }
    if (pathname === '/favicon.ico') {
      send(204, '');
      return;
    }
    const file = resolveRequest(options.root, pathname);
    if (file === undefined) {
      send(404, 'not found\n');
      return;
    }
    readFile(file).then(
      (body) => send(200, body, CONTENT_TYPES[path.extname(file)]),
      () => send(404, `not found${pathname.startsWith('/dist/') ? ' (run npm run build first)' : ''}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const origin = `http://${host}:${port}`;
  return {
    origin,
    pageUrl: ({ url, token }) => `${origin}/#${new URLSearchParams({ url, token }).toString()}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
