/**
 * JSON-RPC 2.0 over the real wss connection: every malformed frame, batch
 * shape, unknown method and bad param gets the spec's answer, errors are
 * mapped without leaking internals, and nothing a client sends brings the
 * server down.
 */
import fc from 'fast-check';
import type { ListTransfersResult } from '../../protocol/index.js';
import { CloudlockerError, InvalidParamsError } from '../../src/errors.js';
import type { MethodSet } from '../../src/server/index.js';
import { openClient, startTestServer, type JsonRpcResponseMessage, type TestClient, type TestServer } from '../helpers/server.js';

const deleted: string[] = [];

/** Test-only handlers for methods whose real ones live elsewhere. */
const testMethods: MethodSet = {
  async listTransfers(params) {
    if (params.sinceSeq === 999) await new Promise((resolve) => setTimeout(resolve, 300));
    return { seq: params.sinceSeq ?? 0, transfers: [] } satisfies ListTransfersResult;
  },
  async getFileInfo({ name }) {
    switch (name) {
      case 'missing':
        throw new CloudlockerError('NOT_FOUND', 'No stored file has that name: check it with listFiles.', { details: { name } });
      case 'bad-cursor':
        throw new InvalidParamsError('cursor is not one this server gave out: start the listing again.', 'cursor');
      case 'crash':
        throw new Error("ENOENT: no such file or directory, open '/home/someone/secret-plans.txt'");
      case 'unserialisable':
        return { name, size: 1n } as never;
      default:
        return { name, size: 1, storedSize: 2, modifiedAt: new Date(0).toISOString(), keyId: 'k', formatVersion: 1, format: 'v1' };
    }
  },
  async deleteFile({ name }) {
    deleted.push(name);
    return { name, deleted: true };
  },
};

let server: TestServer;
let client: TestClient;

beforeAll(async () => {
  // The robustness test below floods one connection on purpose: lift the per-connection rate limit here.
  server = await startTestServer({ createHandlers: () => testMethods, requestBurst: 100_000 });
  client = await openClient(server);
});
afterAll(async () => {
  await client.close();
  await server.stop();
});

const request = (id: unknown, method: string, params?: unknown) =>
  JSON.stringify({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) });

function errorOf(message: unknown): { id: unknown; code: number; message: string; data?: Record<string, unknown> } {
  const response = message as JsonRpcResponseMessage;
  if (response.error === undefined) throw new Error(`expected an error, got ${JSON.stringify(message)}`);
  return { id: response.id, ...response.error } as never;
}

describe('frames that are not requests', () => {
  it.each(['{', 'not json', '{"jsonrpc":"2.0",}', '', '\u0000'])('answers %j with -32700 and id null', async (text) => {
    expect(errorOf(await client.exchange(text))).toMatchObject({ id: null, code: -32700 });
  });

  it.each(['1', '"text"', 'null', 'true', '{}'])('answers the value %s with -32600 and id null', async (text) => {
    expect(errorOf(await client.exchange(text))).toMatchObject({ id: null, code: -32600 });
  });

  it('answers a request without "jsonrpc": "2.0" or a string method with -32600, keeping its id', async () => {
    expect(errorOf(await client.exchange('{"id":7,"method":"getServerInfo"}'))).toMatchObject({ id: 7, code: -32600 });
    expect(errorOf(await client.exchange('{"jsonrpc":"1.0","id":"a","method":"getServerInfo"}'))).toMatchObject({ id: 'a', code: -32600 });
    expect(errorOf(await client.exchange('{"jsonrpc":"2.0","id":8,"method":42}'))).toMatchObject({ id: 8, code: -32600 });
  });

  it('answers an id that is not a string, number or null with -32600 and id null', async () => {
    expect(errorOf(await client.exchange('{"jsonrpc":"2.0","id":{"a":1},"method":"getServerInfo"}'))).toMatchObject({
      id: null,
      code: -32600,
    });
  });

  it('accepts a null id and answers it', async () => {
    expect(await client.exchange(request(null, 'getServerInfo'))).toMatchObject({ id: null, result: { name: 'cloudlocker' } });
  });
});

describe('batches', () => {
  it('answers [] with a single -32600 object, not an array', async () => {
    const answer = await client.exchange('[]');
    expect(Array.isArray(answer)).toBe(false);
    expect(errorOf(answer)).toMatchObject({ id: null, code: -32600 });
  });

  it('answers [null] and [1,2] with one -32600 per entry', async () => {
    const one = (await client.exchange('[null]')) as unknown[];
    expect(one).toHaveLength(1);
    expect(errorOf(one[0])).toMatchObject({ id: null, code: -32600 });
    const two = (await client.exchange('[1,2]')) as unknown[];
    expect(two.map((entry) => errorOf(entry).code)).toEqual([-32600, -32600]);
  });

  it('answers a one-entry batch with an array', async () => {
    const answer = await client.exchange(`[${request(1, 'getServerInfo')}]`);
    expect(answer).toEqual([expect.objectContaining({ id: 1, result: expect.objectContaining({ name: 'cloudlocker' }) })]);
  });

  it('answers a mixed batch entry by entry and leaves notifications unanswered', async () => {
    const batch = `[${request(1, 'getServerInfo')},{"jsonrpc":"2.0","method":"deleteFile","params":{"name":"via-batch"}},{"foo":1},${request(3, 'noSuchMethod')},${request(4, 'listTransfers', { sinceSeq: 'x' })}]`;
    const answer = (await client.exchange(batch)) as JsonRpcResponseMessage[];
    expect(answer).toHaveLength(4);
    expect(answer[0]).toMatchObject({ id: 1, result: { name: 'cloudlocker' } });
    expect(errorOf(answer[1])).toMatchObject({ id: null, code: -32600 });
    expect(errorOf(answer[2])).toMatchObject({ id: 3, code: -32601 });
    expect(errorOf(answer[3])).toMatchObject({ id: 4, code: -32602, data: { param: 'sinceSeq' } });
    expect(deleted).toContain('via-batch');
  });

  it('sends nothing at all for a batch of notifications, but runs them', async () => {
    client.sendRaw(
      '[{"jsonrpc":"2.0","method":"deleteFile","params":{"name":"n1"}},{"jsonrpc":"2.0","method":"deleteFile","params":{"name":"n2"}}]',
    );
    expect(await client.staysSilent(300)).toBe(true);
    expect(deleted).toEqual(expect.arrayContaining(['n1', 'n2']));
  });

  it(`refuses a batch over the cap with one -32600 that says the cap`, async () => {
    const entries = Array.from({ length: 51 }, (_, index) => request(index, 'getServerInfo'));
    const answer = await client.exchange(`[${entries.join(',')}]`);
    expect(Array.isArray(answer)).toBe(false);
    const error = errorOf(answer);
    expect(error).toMatchObject({ id: null, code: -32600 });
    expect(error.message).toContain('50');
    // Exactly at the cap is fine.
    const atCap = (await client.exchange(`[${entries.slice(0, 50).join(',')}]`)) as unknown[];
    expect(atCap).toHaveLength(50);
  });
});

describe('methods', () => {
  it.each(['noSuchMethod', 'constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', ''])(
    'answers %j with -32601',
    async (method) => {
      expect(errorOf(await client.exchange(request(5, method)))).toMatchObject({ id: 5, code: -32601, message: 'Method not found' });
    },
  );

  it('answers a protocol method that this server has no handler for with -32601', async () => {
    expect(errorOf(await client.exchange(request(6, 'upload', { path: '/x', keyPath: '/k' })))).toMatchObject({ id: 6, code: -32601 });
  });

  it('stays silent for a notification to an unknown method', async () => {
    client.sendRaw('{"jsonrpc":"2.0","method":"constructor"}');
    expect(await client.staysSilent(200)).toBe(true);
  });

  it('does not make other requests wait for a slow one on the same connection', async () => {
    const order: string[] = [];
    const slow = client.call('listTransfers', { sinceSeq: 999 }).then(() => order.push('slow'));
    const fast = client.call('getServerInfo').then(() => order.push('fast'));
    await Promise.all([slow, fast]);
    expect(order).toEqual(['fast', 'slow']);
  });
});

describe('params', () => {
  it('checks types against the protocol schema', async () => {
    const error = (await client.call('listTransfers', { sinceSeq: 'x' })).error;
    expect(error).toMatchObject({ code: -32602, data: { param: 'sinceSeq', problem: 'must be integer' } });
    expect((await client.call('listTransfers', { sinceSeq: -1 })).error).toMatchObject({ code: -32602, data: { param: 'sinceSeq' } });
  });

  it('refuses unknown params, naming them', async () => {
    const error = (await client.call('getServerInfo', { extra: 1 })).error;
    expect(error).toMatchObject({ code: -32602, data: { param: 'extra' } });
    expect(error?.message).toMatch(/extra/);
  });

  it('refuses a "__proto__" param instead of letting it through', async () => {
    const answer = await client.exchange('{"jsonrpc":"2.0","id":9,"method":"getServerInfo","params":{"__proto__":{"polluted":1}}}');
    expect(errorOf(answer)).toMatchObject({ id: 9, code: -32602, data: { param: '__proto__' } });
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('refuses missing required params', async () => {
    expect((await client.call('getFileInfo', {})).error).toMatchObject({ code: -32602, data: { param: 'name', problem: 'is required' } });
    expect((await client.call('getFileInfo')).error).toMatchObject({ code: -32602, data: { param: 'name' } });
  });

  it('refuses positional params, but takes absent, {} or [] for a method without params', async () => {
    expect((await client.call('getFileInfo', ['a'])).error).toMatchObject({ code: -32602 });
    expect((await client.call('getServerInfo', [1])).error).toMatchObject({ code: -32602 });
    expect((await client.call('getServerInfo', 'text')).error).toMatchObject({ code: -32602 });
    for (const params of [undefined, {}, []]) {
      expect((await client.call('getServerInfo', params)).result).toMatchObject({ name: 'cloudlocker' });
    }
  });

  it.each([
    ['../escape', '".." segment'],
    ['a/./b', '"." or ".." segment'],
    ['a//b', 'empty segment'],
    ['trailing/', 'empty segment'],
    ['/absolute', 'start with "/"'],
    ['back\\slash', 'backslash'],
    ['bell\u0007', 'control characters'],
    ['', 'empty'],
  ])('refuses the name %j, saying why (%s)', async (name, why) => {
    const error = (await client.call('getFileInfo', { name })).error;
    expect(error).toMatchObject({ code: -32602, data: { param: 'name' } });
    expect(String(error?.data?.['problem'])).toContain(why);
  });

  it('refuses names over 1024 bytes of UTF-8 and unpaired surrogates, without echoing them', async () => {
    const long = 'é'.repeat(600); // 600 characters, 1200 bytes
    const error = (await client.call('getFileInfo', { name: long })).error;
    expect(error).toMatchObject({ code: -32602, data: { param: 'name', problem: 'must be at most 1024 bytes of UTF-8' } });
    expect(JSON.stringify(error)).not.toContain('éééé');
    const lone = errorOf(await client.exchange('{"jsonrpc":"2.0","id":10,"method":"getFileInfo","params":{"name":"a\\ud800b"}}'));
    expect(lone).toMatchObject({ code: -32602, data: { param: 'name' } });
    expect(String(lone.data?.['problem'])).toContain('Unicode');
  });

  it('keeps an error about a huge unknown param short', async () => {
    const error = (await client.call('getServerInfo', { ['k'.repeat(5000)]: 1 })).error;
    expect(error?.code).toBe(-32602);
    expect(JSON.stringify(error).length).toBeLessThan(600);
  });
});

describe('errors from handlers', () => {
  it('maps a CloudlockerError to its code, message and data.reason (plus its details)', async () => {
    const error = (await client.call('getFileInfo', { name: 'missing' })).error;
    expect(error).toEqual({
      code: -32001,
      message: 'No stored file has that name: check it with listFiles.',
      data: { reason: 'NOT_FOUND', name: 'missing' },
    });
  });

  it('maps an InvalidParamsError to -32602 naming the param', async () => {
    expect((await client.call('getFileInfo', { name: 'bad-cursor' })).error).toMatchObject({ code: -32602, data: { param: 'cursor' } });
  });

  it('maps anything else to a bare -32603 and keeps the details in the server log', async () => {
    const error = (await client.call('getFileInfo', { name: 'crash' })).error;
    expect(error?.code).toBe(-32603);
    expect(JSON.stringify(error)).not.toMatch(/secret-plans|ENOENT|home/);
    expect(server.logs.text()).toContain('secret-plans');
  });

  it('answers -32603 for a result that cannot be serialised, and the connection lives on', async () => {
    expect((await client.call('getFileInfo', { name: 'unserialisable' })).error?.code).toBe(-32603);
    expect((await client.call('getServerInfo')).result).toMatchObject({ name: 'cloudlocker' });
  });
});

describe('frame limits', () => {
  it('closes a connection that sends a frame over 1 MiB with 1009; other clients carry on', async () => {
    const victim = await openClient(server);
    const bystander = await openClient(server);
    victim.sendRaw('x'.repeat(1024 * 1024 + 1));
    expect((await victim.closed).code).toBe(1009);
    expect((await bystander.call('getServerInfo')).result).toMatchObject({ name: 'cloudlocker' });
    await bystander.close();
  });

  it('takes a frame of exactly 1 MiB', async () => {
    const sizer = await openClient(server);
    const prefix = '{"jsonrpc":"2.0","id":1,"method":"getServerInfo","params":{"pad":"';
    const suffix = '"}}';
    const frame = prefix + 'p'.repeat(1024 * 1024 - prefix.length - suffix.length) + suffix;
    expect(Buffer.byteLength(frame)).toBe(1024 * 1024);
    expect(errorOf(await sizer.exchange(frame))).toMatchObject({ id: 1, code: -32602, data: { param: 'pad' } });
    await sizer.close();
  });

  it('closes a connection that sends a binary frame with 1003', async () => {
    const binary = await openClient(server);
    binary.sendRaw(Buffer.from(request(1, 'getServerInfo')));
    expect((await binary.closed).code).toBe(1003);
  });
});

describe('robustness', () => {
  it('answers any JSON value or string with at most one frame each and keeps serving', async () => {
    const fuzzer = await openClient(server);
    const frames = fc.sample(
      fc.oneof(
        fc.json(),
        fc.string({ maxLength: 50 }),
        fc.array(fc.oneof(fc.jsonValue(), fc.record({ jsonrpc: fc.constant('2.0'), id: fc.jsonValue(), method: fc.string(), params: fc.jsonValue() })), {
          maxLength: 5,
        }).map((value) => JSON.stringify(value)),
        fc.record({ jsonrpc: fc.constant('2.0'), id: fc.integer(), method: fc.constantFrom('getServerInfo', 'getFileInfo', 'listTransfers'), params: fc.jsonValue() }).map(
          (value) => JSON.stringify(value),
        ),
      ),
      { numRuns: 300, seed: 42 },
    );
    for (const frame of frames) fuzzer.sendRaw(frame);
    const answer = await fuzzer.call('getServerInfo');
    expect(answer.result).toMatchObject({ name: 'cloudlocker' });
    // Frames are answered in order of completion; every answer has arrived by now.
    expect(fuzzer.takeUnclaimed().length).toBeLessThanOrEqual(frames.length);
    expect(fuzzer.ws.readyState).toBe(fuzzer.ws.OPEN);
    await fuzzer.close();
  });

  it('survives deeply nested JSON', async () => {
    const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    const answer = await client.exchange(deep);
    expect([-32700, -32600]).toContain(errorOf(Array.isArray(answer) ? answer[0] : answer).code);
    expect((await client.call('getServerInfo')).result).toMatchObject({ name: 'cloudlocker' });
  });
});
