/**
 * What outside clients see: rpc.discover is a valid OpenRPC document naming
 * this server, and wscat (the manual client users reach for) can call a
 * method while trusting only the server's own certificate.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { METHODS } from '../../protocol/index.js';
import { openClient, startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.stop();
});

describe('rpc.discover', () => {
  const require = createRequire(import.meta.url);
  const openRpcMetaSchema = (require('@open-rpc/meta-schema') as { default: object }).default;
  const { $id: _id, $schema: _schema, ...jsonSchemaMeta } = (require('@json-schema-tools/meta-schema') as { default: Record<string, unknown> })
    .default;
  const ajv = new Ajv({ validateSchema: false, strict: false });
  addFormats.default(ajv);
  ajv.addSchema(jsonSchemaMeta, 'https://meta.json-schema.tools');
  ajv.addSchema(jsonSchemaMeta, 'https://meta.json-schema.tools/');
  const validate = ajv.compile(openRpcMetaSchema);

  it('serves a valid OpenRPC document of every method, with this server in servers', async () => {
    const client = await openClient(server);
    const document = (await client.request('rpc.discover', {})) as unknown as Record<string, unknown> & {
      methods: Array<{ name: string }>;
      servers: Array<{ url: string }>;
    };
    await client.close();
    expect(validate(document) ? [] : validate.errors).toEqual([]);
    expect(document.methods.map((method) => method.name)).toEqual(METHODS.map((descriptor) => descriptor.method));
    expect(document.servers).toEqual([expect.objectContaining({ url: server.url })]);
    // The check bites: a broken copy is refused.
    expect(validate({ ...document, openrpc: 'nine' })).toBe(false);
  });
});

describe('wscat', () => {
  it('calls getServerInfo with the token in the query and --ca pointing at the certificate', async () => {
    const wscat = path.join(process.cwd(), 'node_modules', '.bin', 'wscat');
    const child = spawn(
      wscat,
      ['-c', `${server.url}?token=${server.token}`, '--ca', server.certificate.path, '-x', '{"jsonrpc":"2.0","id":1,"method":"getServerInfo"}', '-w', '1'],
      // stdin stays an open pipe: wscat quits as soon as its stdin closes.
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const exitCode = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill(), 10_000);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
    child.stdin.end();
    expect(stderr).toBe('');
    expect(exitCode).toBe(0);
    const answer = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as { id: number; result: { name: string } };
    expect(answer).toMatchObject({ jsonrpc: '2.0', id: 1, result: { name: 'cloudlocker', protocolVersion: 1 } });
  });
});
