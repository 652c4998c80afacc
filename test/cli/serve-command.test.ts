/**
 * `cloudlocker serve` flag handling, with the server start replaced so that
 * the test sees exactly what the flags became.
 */
import { serveCommand } from '../../src/cli/commands/serve.js';
import type { RunningServer, ServerOptions } from '../../src/server/index.js';

async function parse(argv: string[]): Promise<{ options: ServerOptions | undefined; printed: string[] }> {
  let options: ServerOptions | undefined;
  const printed: string[] = [];
  const command = serveCommand({
    start: async (given) => {
      options = given;
      return {
        url: 'wss://127.0.0.1:1234/rpc',
        token: 'the-token-the-token-the-token',
        discoveryFile: '/data/server.json',
        certificate: { path: '/data/tls/cert.pem', sha256: 'ab', spkiSha256: 'SPKI=' },
      } as RunningServer;
    },
    print: (line) => printed.push(line),
    handleSignals: false,
  });
  command.exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  await command.parseAsync(argv, { from: 'user' });
  return { options, printed };
}

it('passes every flag on as a setting, named as flags in errors', async () => {
  const { options } = await parse([
    '--port', '0',
    '--host', 'localhost',
    '--data-dir', '/data',
    '--allow-origin', 'app://one',
    '--allow-origin', 'app://two',
    '--tls-cert', 'c.pem',
    '--tls-key', 'k.pem',
    '--log-level', 'debug',
    '--storage', 's3',
    '--store-dir', 'store',
    '--s3-bucket', 'bucket',
    '--s3-prefix', 'p/',
    '--s3-region', 'eu-west-1',
    '--s3-endpoint', 'http://127.0.0.1:9000',
    '--s3-force-path-style',
    '--max-message-bytes', '2048',
    '--max-batch-size', '10',
    '--progress-interval-ms', '250',
    '--max-concurrent-transfers', '2',
    '--max-queued-transfers', '8',
    '--max-connections', '16',
    '--max-requests-per-second', '50',
    '--request-burst', '100',
    '--max-in-flight-requests', '32',
    '--ping-interval-ms', '5000',
  ]);
  expect(options).toEqual({
    port: 0,
    host: 'localhost',
    dataDir: '/data',
    allowOrigins: ['app://one', 'app://two'],
    tlsCert: 'c.pem',
    tlsKey: 'k.pem',
    logLevel: 'debug',
    storage: 's3',
    storeDir: 'store',
    s3Bucket: 'bucket',
    s3Prefix: 'p/',
    s3Region: 'eu-west-1',
    s3Endpoint: 'http://127.0.0.1:9000',
    s3ForcePathStyle: true,
    maxMessageBytes: 2048,
    maxBatchSize: 10,
    progressIntervalMs: 250,
    maxConcurrentTransfers: 2,
    maxQueuedTransfers: 8,
    maxConnections: 16,
    maxRequestsPerSecond: 50,
    requestBurst: 100,
    maxInFlightRequests: 32,
    pingIntervalMs: 5000,
    optionsSource: 'cli',
  });
});

it('leaves unset flags to the lower layers, and can turn a boolean off', async () => {
  expect((await parse([])).options).toEqual({ optionsSource: 'cli' });
  expect((await parse(['--no-s3-force-path-style'])).options).toEqual({ s3ForcePathStyle: false, optionsSource: 'cli' });
});

it('prints the URL and where server.json is, and the token only when asked', async () => {
  const plain = await parse([]);
  expect(plain.printed[0]).toBe('cloudlocker listening on wss://127.0.0.1:1234/rpc');
  expect(plain.printed).toContain('server.json: /data/server.json');
  expect(plain.printed.join('\n')).not.toContain('the-token');
  expect((await parse(['--print-token'])).printed).toContain('token: the-token-the-token-the-token');
});

it('refuses malformed numbers and unknown choices, and has no token flag', async () => {
  await expect(parse(['--port', 'eighty'])).rejects.toThrow(/must be a whole number/);
  await expect(parse(['--storage', 'ftp'])).rejects.toThrow(/Allowed choices are local, s3/);
  await expect(parse(['--token', 'x'.repeat(30)])).rejects.toThrow(/unknown option '--token'/);
});
