import { METHODS } from '../../protocol/index.js';
import { createLogger, SECRET_FIELD_NAMES, urlPathForLog } from '../../src/logging.js';

function capture() {
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', destination: { write: (line: string) => void lines.push(line) } });
  return { logger, lines };
}

it('censors tokens, passphrases and authorization headers wherever they sit', () => {
  const { logger, lines } = capture();
  logger.info(
    {
      token: 'secret-token-1',
      config: { token: 'secret-token-2', port: 7575 },
      params: { keyPassphrase: 'secret-pass-1', path: '/tmp/file' },
      passphrase: 'secret-pass-2',
      headers: { authorization: 'Bearer secret-token-3', host: 'localhost' },
      request: { headers: { authorization: 'Bearer secret-token-4' } },
    },
    'an event',
  );
  expect(lines).toHaveLength(1);
  const line = lines[0] ?? '';
  expect(line).not.toMatch(/secret-/);
  expect(JSON.parse(line)).toMatchObject({
    msg: 'an event',
    name: 'cloudlocker',
    config: { token: '[redacted]', port: 7575 },
    params: { keyPassphrase: '[redacted]', path: '/tmp/file' },
    headers: { authorization: '[redacted]', host: 'localhost' },
  });
});

/** Every param name of every method on the wire, nested objects' properties included. */
function paramNames(schema: unknown, into = new Set<string>()): Set<string> {
  if (schema === null || typeof schema !== 'object') return into;
  const properties = (schema as { properties?: Record<string, unknown> }).properties;
  for (const [name, sub] of Object.entries(properties ?? {})) {
    into.add(name);
    paramNames(sub, into);
  }
  for (const value of Object.values(schema)) if (value !== properties) paramNames(value, into);
  return into;
}

it('every secret-bearing param name of the protocol is censored', () => {
  const names = new Set(METHODS.flatMap((descriptor) => [...paramNames(descriptor.paramsSchema)]));
  const secretLooking = [...names].filter((name) => /passphrase|secret|token|password|credential/i.test(name));
  // Non-secret names that match the pattern: flags and ids, said here so a new secret is not waved through.
  const notSecret = new Set(['passphraseProtected', 'protectKeyFile', 'resumeToken']);
  expect(secretLooking.length).toBeGreaterThanOrEqual(3);
  for (const name of secretLooking) if (!notSecret.has(name)) expect({ name, redacted: SECRET_FIELD_NAMES.includes(name) }).toEqual({ name, redacted: true });
});

it('censors each secret param in a logged request, at the top level, one level down and in params', () => {
  const { logger, lines } = capture();
  const requestParams = {
    keyPath: '/tmp/me.key.txt',
    passphrase: 'leak-passphrase-1',
    keyPassphrase: 'leak-key-passphrase-2',
    newPassphrase: 'leak-new-passphrase-3',
    token: 'leak-token-4',
    secretAccessKey: 'leak-s3-secret-5',
    sessionToken: 'leak-s3-session-6',
  };
  logger.info({ request: { jsonrpc: '2.0', id: 1, method: 'changePassphrase', params: requestParams } }, 'request');
  logger.info({ method: 'changePassphrase', params: requestParams }, 'request');
  logger.info({ ...requestParams }, 'flat');
  logger.info({ s3: { ...requestParams } }, 'nested');
  expect(lines).toHaveLength(4);
  const output = lines.join('');
  for (const [name, value] of Object.entries(requestParams)) {
    if (name === 'keyPath') continue;
    expect({ name, logged: output.includes(value) }).toEqual({ name, logged: false });
  }
  // Not everything is censored: the non-secret keyPath stays readable.
  expect(output).toContain('/tmp/me.key.txt');
  expect(JSON.parse(lines[0]!)).toMatchObject({ request: { method: 'changePassphrase', params: { newPassphrase: '[redacted]' } } });
});

it('writes one JSON line per event, at the configured level', () => {
  const lines: string[] = [];
  const logger = createLogger({ level: 'warn', destination: { write: (line: string) => void lines.push(line) } });
  logger.info('hidden');
  logger.warn('shown');
  expect(lines.map((line) => (JSON.parse(line) as { msg: string }).msg)).toEqual(['shown']);
  expect(lines[0]?.endsWith('\n')).toBe(true);
});

it('logs URL paths without their query string', () => {
  expect(urlPathForLog('/rpc?token=secret')).toBe('/rpc');
  expect(urlPathForLog('/rpc#x?token=secret')).toBe('/rpc');
  expect(urlPathForLog(undefined)).toBe('');
  expect(urlPathForLog(`/${'a'.repeat(500)}`)).toHaveLength(201);
});
