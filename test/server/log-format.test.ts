/** Human log lines (logging/pretty.ts): the layout, no secrets, and which format a process gets by default. */
import { spawnSync } from 'node:child_process';
import { createLogger } from '../../src/logging.js';
import { formatLogLine } from '../../src/logging/pretty.js';

function prettyCapture() {
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', destination: { write: (line: string) => void lines.push(formatLogLine(line)) } });
  return { logger, lines };
}

it('one readable line per event: local clock time, level, message, then key=value fields', () => {
  const { logger, lines } = prettyCapture();
  logger.info({ url: 'wss://127.0.0.1:7575/rpc', dataDir: '/home/me/my data', count: 3 }, 'cloudlocker listening');
  logger.warn({ component: 'storage' }, 'a stale upload could not be aborted');
  logger.error({ err: new TypeError('boom') }, 'failed');
  expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO  cloudlocker listening url=wss:\/\/127\.0\.0\.1:7575\/rpc dataDir="\/home\/me\/my data" count=3$/);
  expect(lines[1]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} WARN  a stale upload could not be aborted component=storage$/);
  expect(lines[2]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} ERROR failed err="TypeError: boom"$/);
  for (const line of lines) expect(line).not.toMatch(/[{}]|"level"|1\d{12}/);
});

it('prints no secret: it formats the line pino has already redacted', () => {
  const { logger, lines } = prettyCapture();
  logger.info({ token: 'secret-token-1', params: { keyPassphrase: 'secret-pass-1' }, headers: { authorization: 'Bearer secret-token-3' } }, 'an event');
  expect(lines[0]).not.toMatch(/secret-/);
  expect(lines[0]).toContain('token=[redacted]');
});

it('a line that is not JSON passes through unchanged', () => {
  expect(formatLogLine('plain text\n')).toBe('plain text');
});

it('by default: JSON lines when stderr is not a terminal; --log-format pretty and json as asked', () => {
  const script = (format: string) =>
    `import { createLogger } from ${JSON.stringify(new URL('../../dist/src/logging.js', import.meta.url).href)};` +
    `createLogger(${format === 'default' ? '' : JSON.stringify({ format })}).info({ n: 1 }, 'hello');`;
  const run = (format: string) => spawnSync(process.execPath, ['--input-type=module', '-e', script(format)], { encoding: 'utf8' }).stderr;
  expect(JSON.parse(run('default'))).toMatchObject({ msg: 'hello', n: 1 });
  expect(JSON.parse(run('json'))).toMatchObject({ msg: 'hello', n: 1 });
  expect(run('pretty')).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO  hello n=1\n$/);
});
