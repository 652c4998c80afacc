import { createLogger, urlPathForLog } from '../../src/logging.js';

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
