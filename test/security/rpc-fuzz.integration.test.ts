/**
 * A property-based fuzzer of the JSON-RPC layer, against the whole service
 * (real handlers, real local store) over one wss connection: malformed JSON,
 * wrong shapes, null, numbers, [], [null], giant and nested batches,
 * prototype-named methods, wrong param types, huge strings, local paths of
 * every awkward kind. Every frame is answered per JSON-RPC 2.0 or the
 * contract; every request with an id gets exactly one answer, no entry of a
 * refused batch runs; no error ever is -32603 or carries a path, a stack or
 * an exception name; the connection and the server stay up.
 *
 * Frames that must close the connection (invalid UTF-8, broken framing) are
 * sent on their own connections to the same server, by ws and by hand.
 *
 * The seed is random per run and printed on failure; FUZZ_SEED=<n> replays a
 * run, FUZZ_FRAMES=<n> changes its length.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { WebSocket } from 'ws';
import { ApplicationErrors, JsonRpcErrorCode, METHODS } from '../../protocol/index.js';
import { makeTempDir, openClient, type TestClient, type TestServer } from '../helpers/server.js';
import { startTestService } from '../helpers/service.js';
import { encodeClientFrame, rawHandshake } from './raw-websocket.js';

const FRAMES = Number(process.env['FUZZ_FRAMES'] ?? 600);
const SEED = Number(process.env['FUZZ_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
const ID_PREFIX = 'fz';

let server: TestServer;
let sandbox: string;

beforeAll(async () => {
  sandbox = await makeTempDir('cloudlocker-fuzz-');
  await mkdir(path.join(sandbox, 'dir'));
  await writeFile(path.join(sandbox, 'file.txt'), 'a small file to upload\n');
  await writeFile(path.join(sandbox, 'empty.txt'), '');
  await writeFile(path.join(sandbox, 'not-a-key.json'), '{"version": 1}');
  await symlink(path.join(sandbox, 'loop-b'), path.join(sandbox, 'loop-a'));
  await symlink(path.join(sandbox, 'loop-a'), path.join(sandbox, 'loop-b'));
  if (process.platform !== 'win32') execFileSync('mkfifo', [path.join(sandbox, 'fifo')]);
  server = await startTestService({
    storeDir: path.join(sandbox, 'store'),
    // One connection sends hundreds of frames as fast as they are answered: rate limits are tested elsewhere.
    maxRequestsPerSecond: 1_000_000,
    requestBurst: 1_000_000,
    maxInFlightRequests: 10_000,
  });
  const setup = await openClient(server);
  await setup.request('createKey', { path: path.join(sandbox, 'main.key.json') });
  await setup.request('upload', { path: path.join(sandbox, 'file.txt'), keyPath: path.join(sandbox, 'main.key.json'), name: 'stored.txt' });
  await setup.close();
});

afterAll(async () => {
  await server?.stop();
  await rm(sandbox, { recursive: true, force: true });
});

// ---------------------------------------------------------------- generators

const PROTOTYPE_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf', 'propertyIsEnumerable', '__defineGetter__', 'toLocaleString', 'prototype'];
const METHOD_NAMES = METHODS.map((descriptor) => descriptor.method);
const PATH_PARAMS = new Set(['path', 'keyPath', 'destination']);

/** Absolute paths only: a relative path would resolve against the test runner's working directory. */
const sandboxPath = () =>
  fc.oneof(
    fc.constantFrom(
      'file.txt', 'empty.txt', 'dir', 'dir/', 'fifo', 'loop-a', 'missing/deeper/file', 'main.key.json', 'not-a-key.json', 'store',
      'store/.tmp', 'new.key.json', 'dir/new.key.json', 'out.bin',
    ).map((relative) => path.join(sandbox, relative)),
    fc.stringMatching(/^[a-z0-9_.-]{1,12}$/).filter((segment) => !segment.startsWith('..')).map((segment) => path.join(sandbox, 'gen', segment)),
    // Outside the sandbox only paths nothing can be written to: never a real folder (a key or a
    // download would land in it).
    fc.constantFrom('/dev/null', '/dev/zero', '/proc/self/status', '/proc/self/mem', '/nonexistent/x'),
  );

const hugeString = () => fc.integer({ min: 10_000, max: 300_000 }).map((length) => 'h'.repeat(length));
const wrongType = () => fc.oneof(fc.constant(null), fc.integer(), fc.double(), fc.boolean(), fc.array(fc.jsonValue(), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue(), { maxKeys: 3 }));
const nameLike = () =>
  fc.oneof(
    fc.constantFrom('stored.txt', 'a/b/c.txt', 'x', '../escape', 'a//b', '/abs', 'back\\slash', 'é'.repeat(600), 'a\u0000b', '.', 'con', 'nul.txt', 'a/./b'),
    fc.string({ unit: 'grapheme', maxLength: 40 }),
    fc.string({ unit: 'binary', maxLength: 40 }),
  );

function valueFor(param: string): fc.Arbitrary<unknown> {
  const weird = fc.oneof(wrongType(), hugeString());
  if (PATH_PARAMS.has(param)) return fc.oneof({ arbitrary: sandboxPath(), weight: 6 }, { arbitrary: weird, weight: 1 });
  switch (param) {
    case 'name':
    case 'prefix':
      return fc.oneof({ arbitrary: nameLike(), weight: 5 }, { arbitrary: weird, weight: 1 });
    case 'limit':
    case 'sinceSeq':
      return fc.oneof(fc.integer({ min: -5, max: 2000 }), fc.constantFrom(0, 1, 1000, 1001, 2 ** 53, -(2 ** 53), 1.5), weird);
    case 'overwrite':
      return fc.oneof(fc.boolean(), weird);
    case 'passphrase':
    case 'keyPassphrase':
      return fc.oneof(fc.string({ minLength: 0, maxLength: 20 }), weird);
    default:
      return fc.oneof(fc.string({ maxLength: 30 }), weird);
  }
}

const paramsArbitraries = new Map<string, fc.Arbitrary<unknown>>();
/** Built once per method: building arbitraries inside chain() for every sample is what makes generation slow. */
const paramsFor = (method: string): fc.Arbitrary<unknown> => {
  const key = METHOD_NAMES.includes(method as never) ? method : '';
  let arbitrary = paramsArbitraries.get(key);
  if (arbitrary === undefined) {
    arbitrary = buildParamsFor(key);
    paramsArbitraries.set(key, arbitrary);
  }
  return arbitrary;
};

const buildParamsFor = (method: string): fc.Arbitrary<unknown> => {
  const descriptor = METHODS.find((candidate) => candidate.method === method);
  const known = Object.keys((descriptor?.paramsSchema['properties'] ?? {}) as object);
  const named =
    known.length === 0
      ? fc.constant({})
      : fc.record(Object.fromEntries(known.map((param) => [param, valueFor(param)])), { requiredKeys: [] });
  const withExtra = fc
    .tuple(named, fc.dictionary(fc.oneof(fc.constantFrom('__proto__', 'constructor', 'extra', 'k'.repeat(3000)), fc.string({ maxLength: 8 })), fc.jsonValue(), { maxKeys: 2 }))
    .map(([a, b]) => ({ ...b, ...(a as object) }));
  return fc.oneof(
    { arbitrary: named, weight: 8 },
    { arbitrary: withExtra, weight: 2 },
    { arbitrary: fc.constant(undefined), weight: 1 },
    { arbitrary: wrongType(), weight: 2 },
    { arbitrary: fc.array(fc.jsonValue(), { maxLength: 3 }), weight: 1 },
    { arbitrary: hugeString(), weight: 1 },
  );
};

const anyWrongType = wrongType();

let nextId = 0;
/** A unique id the checks can follow, or another kind of id (number, null, absent, invalid). */
const idArbitrary = fc.oneof(
  { arbitrary: fc.constant('unique'), weight: 8 },
  { arbitrary: fc.integer(), weight: 1 },
  { arbitrary: fc.constant(null), weight: 1 },
  { arbitrary: fc.constant('absent'), weight: 1 },
  { arbitrary: fc.oneof(fc.double(), fc.boolean(), fc.array(fc.integer(), { maxLength: 2 }), fc.object({ maxDepth: 1 })), weight: 1 },
);

const methodArbitrary = fc.oneof(
  { arbitrary: fc.constantFrom(...METHOD_NAMES), weight: 10 },
  { arbitrary: fc.constantFrom(...PROTOTYPE_NAMES), weight: 3 },
  { arbitrary: fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('rpc.other', 'Upload', 'upload ', '')), weight: 2 },
  { arbitrary: fc.oneof(fc.integer(), fc.constant(null), fc.array(fc.string(), { maxLength: 2 })), weight: 1 },
);

type RequestTemplate = { jsonrpc: unknown; id: unknown; method: unknown; params: unknown };
const requestTemplate: fc.Arbitrary<RequestTemplate> = fc
  .record({
    jsonrpc: fc.oneof({ arbitrary: fc.constant('2.0'), weight: 12 }, { arbitrary: fc.constantFrom('1.0', 2, null, '2.0 '), weight: 1 }),
    id: idArbitrary,
    method: methodArbitrary,
  })
  .chain((base) => (typeof base.method === 'string' ? paramsFor(base.method) : anyWrongType).map((params) => ({ ...base, params })));

/** A frame: its text, plus which unique ids must (or must never) be answered. */
interface Frame {
  readonly text: string;
  readonly expected: string[];
  readonly forbidden: string[];
  readonly kind: string;
}

/** Instantiate a template: fresh unique ids, and the object as sent. */
function materialise(template: RequestTemplate): { entry: Record<string, unknown>; uniqueId?: string; answerable: boolean } {
  const entry: Record<string, unknown> = { jsonrpc: template.jsonrpc };
  let uniqueId: string | undefined;
  if (template.id === 'unique') {
    uniqueId = `${ID_PREFIX}${nextId++}`;
    entry['id'] = uniqueId;
  } else if (template.id !== 'absent') entry['id'] = template.id;
  entry['method'] = template.method;
  if (template.params !== undefined) entry['params'] = template.params;
  // A request object with a string method and jsonrpc "2.0" is answered under its id; anything else under null.
  const answerable = template.jsonrpc === '2.0' && typeof template.method === 'string';
  return { entry, ...(uniqueId === undefined ? {} : { uniqueId }), answerable };
}

const junkEntry = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(null), fc.constant([]), fc.constant({}));

const frameArbitrary: fc.Arbitrary<() => Frame> = fc.oneof(
  { weight: 40, arbitrary: requestTemplate.map((t) => () => single(t)) },
  {
    weight: 12,
    arbitrary: fc.array(fc.oneof({ arbitrary: requestTemplate.map((t) => ({ t })), weight: 4 }, { arbitrary: junkEntry.map((j) => ({ j })), weight: 1 }), { minLength: 1, maxLength: 12 }).map(
      (items) => () => batch(items, 'batch'),
    ),
  },
  {
    weight: 3,
    arbitrary: fc.tuple(requestTemplate, fc.integer({ min: 51, max: 400 })).map(([t, count]) => () => batch(Array.from({ length: count }, () => ({ t })), 'giant batch')),
  },
  { weight: 2, arbitrary: fc.integer({ min: 49, max: 50 }).chain((n) => fc.array(requestTemplate, { minLength: n, maxLength: n })).map((ts) => () => batch(ts.map((t) => ({ t })), 'batch at the cap')) },
  { weight: 3, arbitrary: requestTemplate.map((t) => () => nested(t)) },
  {
    weight: 8,
    arbitrary: fc.oneof(
      fc.string({ maxLength: 60 }),
      fc.string({ unit: 'binary', maxLength: 60 }),
      fc.constantFrom('', '{', '[', '[{', '{"jsonrpc":"2.0",}', 'nul', 'NaN', '{"a":1}{"b":2}', '\u0000', '[1,]', '{"__proto__":', 'undefined', '1e999999'),
      requestTemplate.chain((t) => fc.nat().map((cut) => JSON.stringify(materialise(t).entry).slice(0, cut % 40))),
    ).map((text) => () => ({ text, expected: [], forbidden: [], kind: 'malformed' })),
  },
  {
    weight: 8,
    arbitrary: fc.oneof(
      fc.constantFrom('null', '0', '-1', '1.5e300', 'true', '"text"', '[]', '[null]', '[[]]', '[1,2,3]', '{}', '[{}]', '{"jsonrpc":"2.0"}'),
      fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)),
    ).map((text) => () => ({ text, expected: [], forbidden: [], kind: 'value' })),
  },
  { weight: 2, arbitrary: fc.integer({ min: 1_000, max: 100_000 }).map((depth) => () => ({ text: `${'['.repeat(depth)}${']'.repeat(depth)}`, expected: [], forbidden: [], kind: 'deep' })) },
  {
    weight: 2,
    arbitrary: fc.integer({ min: 1_000, max: 50_000 }).map((depth) => () => {
      const id = `${ID_PREFIX}${nextId++}`;
      return { text: `{"jsonrpc":"2.0","id":"${id}","method":"listFiles","params":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`, expected: [id], forbidden: [], kind: 'deep params' };
    }),
  },
);

function single(template: RequestTemplate): Frame {
  const { entry, uniqueId, answerable } = materialise(template);
  return { text: JSON.stringify(entry), expected: uniqueId !== undefined && answerable ? [uniqueId] : [], forbidden: [], kind: 'request' };
}

function batch(items: Array<{ t?: RequestTemplate; j?: unknown }>, kind: string): Frame {
  const entries: unknown[] = [];
  const ids: string[] = [];
  for (const item of items) {
    if (item.t === undefined) {
      entries.push(item.j);
      continue;
    }
    const { entry, uniqueId, answerable } = materialise(item.t);
    entries.push(entry);
    if (uniqueId !== undefined && answerable) ids.push(uniqueId);
  }
  const refused = entries.length > 50;
  return { text: JSON.stringify(entries), expected: refused ? [] : ids, forbidden: refused ? ids : [], kind };
}

function nested(template: RequestTemplate): Frame {
  const { entry, uniqueId } = materialise(template);
  // [[request]]: the inner array is not a request object; the request inside must not run.
  return { text: JSON.stringify([[entry]]), expected: [], forbidden: uniqueId === undefined ? [] : [uniqueId], kind: 'nested batch' };
}

// ---------------------------------------------------------------- checks

const APPLICATION_CODES = new Map<number, string>(Object.entries(ApplicationErrors).map(([reason, spec]) => [spec.code, reason]));
const STANDARD_CODES = new Set<number>([JsonRpcErrorCode.PARSE_ERROR, JsonRpcErrorCode.INVALID_REQUEST, JsonRpcErrorCode.METHOD_NOT_FOUND, JsonRpcErrorCode.INVALID_PARAMS]);

/**
 * Every error message a client may see, as patterns. A new message fails
 * this test until it is reviewed here: it must say what to do and carry no
 * path, value or internal detail.
 */
const KNOWN_MESSAGES: readonly RegExp[] = [
  /^Parse error: the frame is not valid JSON$/,
  /^Invalid Request: (an empty batch|a batch may hold at most 50 requests; split it|expected a request object|"id" must be a string, a number or null|"jsonrpc" must be "2\.0"|"method" must be a string)$/,
  /^Method not found$/,
  /^Invalid params: .{1,70} (is|must|has|are) .+$/,
  ...Object.values(ApplicationErrors).map((spec) => new RegExp(`^${spec.message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`)),
  /^(path|keyPath|destination|name|prefix|cursor|limit|transferId|passphrase|keyPassphrase|recipient|recipients|with|keep|card|userName|newPassphrase)(\[\d+\])? .+$/,
  /^The (file to upload|folder to upload|key file|destination|destination folder|downloaded file|folder for the key file) .+$/,
  /^The operating system refused access to (the file to upload|the folder to upload|the key file|the destination|the destination folder|the downloaded file): check its permissions\.$/,
  /^(A|No) (remote |stored |interrupted )?(file|key file|transfer|identity|identity copy|contact) .+$/,
  // The users methods (issue 14): contacts, cards, recipients, sharing.
  /^(That (card|is not a valid cloudlocker card)|The (identity|file|contact name)|Recipient \d+|At most \d+|Only the author) .+$/,
  /^The key file (is|could not|has|was) .+$/,
  /^The (file's name|remote name|passphrase|stored file|cursor|listing) .+$/,
  /^There is no space left to write .+$/,
];

interface Seen {
  answered: Map<string, number>;
  messages: Map<string, number>;
  codes: Map<number, number>;
  internalErrors: unknown[];
  problems: string[];
}

const LEAK_PATTERNS: Array<[string, RegExp]> = [
  ['a stack frame', /\n\s+at |\bat [\w.<>]+ \(.*:\d+:\d+\)|node:internal/],
  ['an exception name', /\b(TypeError|RangeError|SyntaxError|ReferenceError|Error):/],
  ['an unserialised value', /\[object Object\]|\bundefined\b|\bNaN\b/],
];

function checkError(error: unknown, where: string, seen: Seen): void {
  const problem = (what: string): void => {
    seen.problems.push(`${where}: ${what}: ${JSON.stringify(error).slice(0, 300)}`);
  };
  if (typeof error !== 'object' || error === null) return problem('error is not an object');
  const { code, message, data } = error as { code: unknown; message: unknown; data?: Record<string, unknown> };
  if (typeof code !== 'number' || typeof message !== 'string' || message === '') return problem('code or message missing');
  seen.codes.set(code, (seen.codes.get(code) ?? 0) + 1);
  const key = message.replace(/\d+/g, 'N');
  seen.messages.set(key, (seen.messages.get(key) ?? 0) + 1);
  if (code === JsonRpcErrorCode.INTERNAL_ERROR) seen.internalErrors.push(error);
  else if (!STANDARD_CODES.has(code) && !APPLICATION_CODES.has(code)) problem(`unknown code ${code}`);
  const reason = APPLICATION_CODES.get(code);
  if (reason !== undefined && data?.['reason'] !== reason) problem(`data.reason should be ${reason}`);
  if (!KNOWN_MESSAGES.some((pattern) => pattern.test(message))) problem('message not in the allowlist');
  const text = JSON.stringify(error);
  for (const forbidden of [sandbox, os.tmpdir() + path.sep, process.cwd(), server.dataDir]) {
    if (text.includes(forbidden)) problem(`carries the path ${forbidden}`);
  }
  for (const [what, pattern] of LEAK_PATTERNS) if (pattern.test(text)) problem(`carries ${what}`);
  if (text.length > 2000) problem('is too long');
}

function checkMessage(message: unknown, seen: Seen): void {
  const responses = Array.isArray(message) ? message : [message];
  if (Array.isArray(message) && message.length === 0) seen.problems.push('an empty array was sent');
  for (const response of responses) {
    if (typeof response !== 'object' || response === null) {
      seen.problems.push(`not an object: ${JSON.stringify(response)}`);
      continue;
    }
    const record = response as Record<string, unknown>;
    if (record['jsonrpc'] !== '2.0') seen.problems.push(`jsonrpc is not "2.0": ${JSON.stringify(record).slice(0, 200)}`);
    if (typeof record['method'] === 'string' && !('id' in record)) {
      if (!Array.isArray(message) && ['transferProgress', 'transferFinished'].includes(record['method'])) {
        const params = record['params'] as Record<string, unknown> | undefined;
        if (params?.['error'] !== undefined) checkError(params['error'], 'notification', seen);
        continue;
      }
      seen.problems.push(`unexpected notification ${String(record['method'])}`);
      continue;
    }
    if (!('id' in record)) seen.problems.push('a response without id');
    if (('result' in record) === ('error' in record)) seen.problems.push(`not exactly one of result and error: ${JSON.stringify(record).slice(0, 200)}`);
    if ('error' in record) checkError(record['error'], `response ${JSON.stringify(record['id'])}`, seen);
    const id = record['id'];
    if (typeof id === 'string' && id.startsWith(ID_PREFIX)) seen.answered.set(id, (seen.answered.get(id) ?? 0) + 1);
  }
}

async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return true;
}

// ---------------------------------------------------------------- the run

describe('JSON-RPC fuzzing over one connection', () => {
  it(`answers ${FRAMES} generated frames per the spec, leaking nothing and staying up`, async () => {
    // Frames over the 1 MiB limit close the connection (tested in rpc-frames): leave them out here.
    const frames = fc
      .sample(frameArbitrary, { numRuns: Math.ceil(FRAMES * 1.2), seed: SEED })
      .map((build) => build())
      .filter((frame) => Buffer.byteLength(frame.text) < 1024 * 1024)
      .slice(0, FRAMES);
    expect(frames).toHaveLength(FRAMES);

    const client = await openClient(server);
    const seen: Seen = { answered: new Map(), messages: new Map(), codes: new Map(), internalErrors: [], problems: [] };
    const raw: unknown[] = [];
    client.ws.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString('utf8')) as unknown;
      raw.push(message);
      checkMessage(message, seen);
    });
    const expected = new Set<string>();
    const forbidden = new Set<string>();
    const kinds = new Map<string, number>();
    try {
      // In slices, so a slow handler's answer is awaited before too much piles up behind it.
      for (let start = 0; start < frames.length; start += 20) {
        const slice = frames.slice(start, start + 20);
        for (const frame of slice) {
          frame.expected.forEach((id) => expected.add(id));
          frame.forbidden.forEach((id) => forbidden.add(id));
          kinds.set(frame.kind, (kinds.get(frame.kind) ?? 0) + 1);
          client.sendRaw(frame.text);
        }
        const ok = await until(() => slice.every((frame) => frame.expected.every((id) => seen.answered.has(id))), 20_000);
        if (!ok) throw new Error(`seed ${SEED}: frames ${start}..${start + slice.length} not all answered`);
      }
      // A last request behind everything else, and time for stray answers of notifications.
      expect((await client.call('getServerInfo')).result).toMatchObject({ name: 'cloudlocker' });
      await new Promise((resolve) => setTimeout(resolve, 200));

      const context = `seed ${SEED} (replay with FUZZ_SEED=${SEED})`;
      expect({ context, problems: seen.problems.slice(0, 20) }).toEqual({ context, problems: [] });
      expect({ context, internalErrors: seen.internalErrors.slice(0, 5) }).toEqual({ context, internalErrors: [] });
      const answeredTwice = [...seen.answered].filter(([, count]) => count > 1).map(([id]) => id);
      expect({ context, answeredTwice }).toEqual({ context, answeredTwice: [] });
      const unanswered = [...expected].filter((id) => !seen.answered.has(id));
      expect({ context, unanswered }).toEqual({ context, unanswered: [] });
      const ranAnyway = [...forbidden].filter((id) => seen.answered.has(id));
      expect({ context, ranAnyway }).toEqual({ context, ranAnyway: [] });
      expect(client.ws.readyState).toBe(WebSocket.OPEN);
      // Something of each kind was sent, and real work was done (not only refusals).
      expect(kinds.size).toBeGreaterThanOrEqual(8);
      expect(seen.codes.get(JsonRpcErrorCode.INVALID_PARAMS)).toBeGreaterThan(0);
      expect(seen.codes.get(JsonRpcErrorCode.METHOD_NOT_FOUND)).toBeGreaterThan(0);
      expect(raw.some((message) => typeof message === 'object' && message !== null && 'result' in message)).toBe(true);
      console.info(
        `rpc fuzz: ${frames.length} frames (${[...kinds].map(([kind, count]) => `${kind} ${count}`).join(', ')}), ` +
          `${expected.size} requests followed by id, ${raw.length} messages back, seed ${SEED}`,
      );
    } finally {
      await client.close();
    }
  }, 120_000);
});

// ---------------------------------------------------------------- frames that end a connection

async function closeCodeOf(send: (ws: WebSocket) => void): Promise<number> {
  const ws = new WebSocket(server.url, { ca: server.caPem, headers: { Authorization: `Bearer ${server.token}` } });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  ws.on('error', () => undefined);
  send(ws);
  return closed;
}

describe('frames that must close the connection', () => {
  const invalidUtf8: Array<[string, Buffer]> = [
    ['a lone 0xFF byte', Buffer.from([0xff])],
    ['a stray continuation byte', Buffer.from('{"a":"\x80"}', 'latin1')],
    ['an overlong encoding of "/"', Buffer.from([0x22, 0xc0, 0xaf, 0x22])],
    ['an encoded surrogate', Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22])],
    ['a truncated multi-byte sequence at the end', Buffer.from([0x22, 0xe2, 0x82])],
    ['a code point above U+10FFFF', Buffer.from([0xf4, 0x90, 0x80, 0x80])],
    ['invalid bytes inside a valid-looking request', Buffer.concat([Buffer.from('{"jsonrpc":"2.0","id":1,"method":"getFileInfo","params":{"name":"'), Buffer.from([0xfe, 0xfe]), Buffer.from('"}}')])],
  ];

  it.each(invalidUtf8)('closes with 1007 for a text frame with %s, and the server lives on', async (_label, bytes) => {
    expect(await closeCodeOf((ws) => ws.send(bytes, { binary: false }))).toBe(1007);
  });

  it('closes with 1007 when invalid UTF-8 is split across fragments', async () => {
    const code = await closeCodeOf((ws) => {
      ws.send(Buffer.from([0x22, 0xe2]), { binary: false, fin: false });
      ws.send(Buffer.from([0x28, 0xa1, 0x22]), { binary: false, fin: true });
    });
    expect(code).toBe(1007);
  });

  const brokenFrames: Array<[string, number, Buffer]> = [
    ['an unmasked frame', 1002, encodeClientFrame({ opcode: 1, payload: Buffer.from('{}'), mask: false })],
    ['reserved bits set', 1002, encodeClientFrame({ opcode: 1, payload: Buffer.from('{}'), rsv: 4 })],
    ['an unknown opcode', 1002, encodeClientFrame({ opcode: 3, payload: Buffer.from('{}') })],
    ['a fragmented ping', 1002, encodeClientFrame({ opcode: 9, payload: Buffer.from('x'), fin: false })],
    ['a ping over 125 bytes', 1002, encodeClientFrame({ opcode: 9, payload: Buffer.alloc(200) })],
    ['a continuation with nothing to continue', 1002, encodeClientFrame({ opcode: 0, payload: Buffer.from('{}') })],
    ['a close frame with an invalid code', 1002, encodeClientFrame({ opcode: 8, payload: Buffer.from([0x03, 0xe7]) })],
    ['a close frame whose reason is invalid UTF-8', 1007, encodeClientFrame({ opcode: 8, payload: Buffer.from([0x03, 0xe8, 0xff]) })],
    ['a raw text frame of invalid UTF-8', 1007, encodeClientFrame({ opcode: 1, payload: Buffer.from([0x7b, 0xc3, 0x28, 0x7d]) })],
    ['a frame that claims 2^63 bytes', 1009, Buffer.from([0x81, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4])],
  ];

  it.each(brokenFrames)('answers %s with close code %i, sent by hand over TLS', async (_label, code, bytes) => {
    const connection = await rawHandshake(server, { headers: { Authorization: `Bearer ${server.token}` } });
    expect(connection.status).toBe(101);
    connection.socket.write(bytes);
    expect(await connection.closeFrame()).toMatchObject({ code });
    connection.socket.destroy();
  });

  it('still serves afterwards, and logged no error', async () => {
    const client: TestClient = await openClient(server);
    // The fuzzer may legitimately have deleted stored.txt (deleteFile with a valid name): ask only that the store answers.
    expect(await client.request('listFiles', {})).toEqual({ files: expect.any(Array), nextCursor: null });
    expect(await client.request('getServerInfo', {})).toMatchObject({ name: 'cloudlocker' });
    await client.close();
    const errors = server.logs.lines.filter((line) => (JSON.parse(line) as { level: number }).level >= 50);
    expect(errors).toEqual([]);
  });
});
