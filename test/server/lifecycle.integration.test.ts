/**
 * Start, restart and stop: the certificate survives restarts while the token
 * does not, server.json describes exactly what is served and disappears on
 * close, and the seam for other methods (createHandlers) is honoured.
 */
import { createHash } from 'node:crypto';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import tls from 'node:tls';
import { readDiscoveryFile, ServerStartError } from '../../src/server/index.js';
import { ConfigError } from '../../src/config/index.js';
import { makeTempDir, openClient, startTestServer } from '../helpers/server.js';

const isPosix = process.platform !== 'win32';

/** The certificate the server actually presents on the wire. */
function servedCertificate(url: string, ca: string): Promise<Buffer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: hostname, port: Number(port), ca, servername: undefined }, () => {
      const raw = socket.getPeerCertificate(true).raw;
      socket.end();
      resolve(raw);
    });
    socket.on('error', reject);
  });
}

describe('across restarts', () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await makeTempDir();
  });
  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps the certificate and changes the token', async () => {
    const first = await startTestServer({ dataDir });
    await first.stop();
    const second = await startTestServer({ dataDir });
    await second.stop();
    expect(second.certificate).toEqual(first.certificate);
    expect(second.token).not.toBe(first.token);
    expect(second.token.length).toBeGreaterThanOrEqual(43);
  });

  it('keeps the private key and the data directory private', async () => {
    const server = await startTestServer({ dataDir });
    await server.stop();
    if (isPosix) {
      expect((await stat(path.join(dataDir, 'tls', 'key.pem'))).mode & 0o777).toBe(0o600);
      expect((await stat(path.join(dataDir, 'tls'))).mode & 0o777).toBe(0o700);
    }
  });

  it('uses the token passed in (CLOUDLOCKER_TOKEN or the option) and refuses a short one', async () => {
    const token = 'launcher-chosen-token-0123456789abcdef';
    const fromEnv = await startTestServer({ dataDir, env: { CLOUDLOCKER_TOKEN: token } });
    expect(fromEnv.token).toBe(token);
    const client = await openClient(fromEnv, { token });
    await client.close();
    await fromEnv.stop();
    const refusal = await startTestServer({ dataDir, token: 'too-short' }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refusal).toBeInstanceOf(ConfigError);
    expect((refusal as Error).message).toMatch(/at least 128 bits/);
    expect((refusal as Error).message).not.toContain('too-short');
  });
});

describe('server.json', () => {
  it('is mode 0600, describes the served certificate, and is removed on close', async () => {
    const server = await startTestServer();
    const file = path.join(server.dataDir, 'server.json');
    expect(server.discoveryFile).toBe(file);
    if (isPosix) expect((await stat(file)).mode & 0o777).toBe(0o600);

    const record = await readDiscoveryFile(server.dataDir);
    expect(record).toEqual({
      url: server.url,
      port: server.port,
      pid: process.pid,
      token: server.token,
      version: (JSON.parse(await readFile(path.join(process.cwd(), 'package.json'), 'utf8')) as { version: string }).version,
      startedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      certificate: server.certificate,
    });

    const raw = await servedCertificate(server.url, server.caPem);
    expect(createHash('sha256').update(raw).digest('hex')).toBe(record?.certificate.sha256);
    const spki = new (await import('node:crypto')).X509Certificate(raw).publicKey.export({ type: 'spki', format: 'der' });
    expect(createHash('sha256').update(spki).digest('base64')).toBe(record?.certificate.spkiSha256);

    await server.close();
    await expect(stat(file)).rejects.toMatchObject({ code: 'ENOENT' });
    await server.stop();
  });

  it('is left alone at close when another server has replaced it', async () => {
    const dataDir = await makeTempDir();
    const server = await startTestServer({ dataDir });
    const file = path.join(dataDir, 'server.json');
    const other = { ...(await readDiscoveryFile(dataDir)), pid: process.pid + 1 };
    await writeFile(file, JSON.stringify(other));
    await server.stop();
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ pid: process.pid + 1 });
    await rm(dataDir, { recursive: true, force: true });
  });

  it('is not written when writeDiscoveryFile is false', async () => {
    const server = await startTestServer({ writeDiscoveryFile: false });
    expect(server.discoveryFile).toBeUndefined();
    await expect(stat(path.join(server.dataDir, 'server.json'))).rejects.toMatchObject({ code: 'ENOENT' });
    await server.stop();
  });
});

describe('start and stop', () => {
  it('says clearly when the port is taken', async () => {
    const first = await startTestServer();
    const attempt = startTestServer({ port: first.port });
    await expect(attempt).rejects.toThrow(ServerStartError);
    await expect(startTestServer({ port: first.port })).rejects.toThrow(/already in use/);
    await first.stop();
  });

  it('closes connections with 1001 and releases the handlers, once, even if close() is called twice', async () => {
    let released = 0;
    const server = await startTestServer({
      createHandlers: () => ({
        close: () => {
          released += 1;
        },
      }),
    });
    const client = await openClient(server);
    await Promise.all([server.close(), server.close()]);
    expect((await client.closed).code).toBe(1001);
    expect(released).toBe(1);
    await server.stop();
  });

  it('sends the answers of requests that the shutdown ends before closing their connections', async () => {
    // As an upload interrupted by the shutdown: its answer is settled by close() and written a few ticks later.
    let stopped: (() => void) | undefined;
    const stopping = new Promise<void>((resolve) => (stopped = resolve));
    const server = await startTestServer({
      createHandlers: () => ({
        listFiles: async () => {
          await stopping;
          await new Promise((resolve) => setTimeout(resolve, 50));
          throw new Error('interrupted by the shutdown');
        },
        close: () => stopped?.(),
      }),
    });
    const client = await openClient(server);
    const answer = client.call('listFiles', {});
    await client.request('getServerInfo', {}); // the listFiles request has reached its handler
    await server.close();
    expect((await answer).error?.code).toBe(-32603);
    expect((await client.closed).code).toBe(1001);
    await server.stop();
  });

  it('gives createHandlers the config, a logger, the hub and the URL; its storageInfo reaches getServerInfo', async () => {
    let seenUrl = '';
    const server = await startTestServer({
      maxConcurrentTransfers: 3,
      createHandlers: (context) => {
        seenUrl = context.serverUrl;
        expect(context.config.maxConcurrentTransfers).toBe(3);
        expect(typeof context.notifications.publish).toBe('function');
        expect(typeof context.logger.info).toBe('function');
        return { storageInfo: { kind: 's3', location: 's3://bucket/prefix/' } };
      },
    });
    expect(seenUrl).toBe(server.url);
    const client = await openClient(server);
    const info = await client.request('getServerInfo', {});
    expect(info).toEqual({
      name: 'cloudlocker',
      version: expect.any(String),
      protocolVersion: 1,
      formatVersion: 2,
      storage: { kind: 's3', location: 's3://bucket/prefix/' },
      limits: {
        maxMessageBytes: 1024 * 1024,
        maxBatchSize: 50,
        maxConcurrentTransfers: 3,
        maxQueuedTransfers: 64,
        progressIntervalMs: 100,
        maxListLimit: 1000,
      },
    });
    await client.close();
    await server.stop();
  });

  it('reports the local store by default', async () => {
    const server = await startTestServer();
    const client = await openClient(server);
    expect((await client.request('getServerInfo', {})).storage).toEqual({ kind: 'local', location: path.join(server.dataDir, 'store') });
    await client.close();
    await server.stop();
  });

  it('fails to start, and releases the port, when createHandlers throws', async () => {
    const dataDir = await makeTempDir();
    const probe = await startTestServer({ dataDir });
    const port = probe.port;
    await probe.close();
    await expect(
      startTestServer({
        dataDir,
        port,
        createHandlers: () => {
          throw new Error('storage not reachable');
        },
      }),
    ).rejects.toThrow('storage not reachable');
    await expect(stat(path.join(dataDir, 'server.json'))).rejects.toMatchObject({ code: 'ENOENT' });
    const again = await startTestServer({ dataDir, port });
    await again.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('warns when listening beyond loopback', async () => {
    const server = await startTestServer({ host: '0.0.0.0' });
    expect(server.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/rpc$/);
    expect(server.logs.text()).toMatch(/non-loopback/);
    const client = await openClient(server);
    await client.close();
    await server.stop();
  });
});
