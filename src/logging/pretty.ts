/**
 * Human log lines for a terminal, from pino's JSON lines:
 *
 *   04:31:07.123 INFO  cloudlocker listening url=wss://127.0.0.1:7575/rpc dataDir=/home/me/.local/share/cloudlocker
 *
 * A destination stream, not a pino transport: it runs in this thread and
 * writes synchronously (nothing lost at exit, no worker thread to ship in a
 * bundle). It sees lines after pino's redaction, so it prints no secret that
 * the JSON form would not. Why not pino-pretty: a dozen dependencies for
 * one line's layout, and its transport form needs a worker thread file on
 * disk, which a single-file bundle does not have.
 */
import { writeSync } from 'node:fs';

const LEVEL_NAMES: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const LEVEL_COLOURS: Readonly<Record<number, string>> = { 10: '\x1b[90m', 20: '\x1b[36m', 30: '\x1b[32m', 40: '\x1b[33m', 50: '\x1b[31m', 60: '\x1b[35m' };
/** pino's own fields, shown in the line's fixed part or left out. */
const OWN_FIELDS = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg', 'v']);
const MAX_VALUE_LENGTH = 300;

export interface PrettyOptions {
  /** ANSI colours for the level. Default: no. */
  readonly colour?: boolean;
}

/** One JSON log line as a human line (without the newline); a line that is not JSON is passed on as it is. */
export function formatLogLine(jsonLine: string, options: PrettyOptions = {}): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(jsonLine) as Record<string, unknown>;
  } catch {
    return jsonLine.trimEnd();
  }
  const level = typeof record['level'] === 'number' ? record['level'] : 30;
  const name = (LEVEL_NAMES[level] ?? String(level)).padEnd(5);
  const levelText = options.colour === true ? `${LEVEL_COLOURS[level] ?? ''}${name}\x1b[0m` : name;
  const time = typeof record['time'] === 'number' ? clock(new Date(record['time'])) : '';
  const fields = Object.entries(record)
    .filter(([key]) => !OWN_FIELDS.has(key))
    .map(([key, value]) => `${key}=${fieldText(key, value)}`);
  const message = typeof record['msg'] === 'string' ? record['msg'] : '';
  return [time, levelText, message, ...fields].filter((part) => part !== '').join(' ');
}

/** A pino destination writing human lines to a file descriptor (default 2, stderr). */
export function prettyDestination(options: PrettyOptions & { fd?: number } = {}): { write(line: string): void } {
  const fd = options.fd ?? 2;
  return {
    write(line: string) {
      writeSync(fd, `${formatLogLine(line, options)}\n`);
    },
  };
}

function fieldText(key: string, value: unknown): string {
  if (key === 'err' && typeof value === 'object' && value !== null) {
    const err = value as Record<string, unknown>;
    const text = typeof err['message'] === 'string' ? err['message'] : JSON.stringify(value);
    return quoteIfNeeded(typeof err['type'] === 'string' && err['type'] !== 'Error' ? `${err['type']}: ${text}` : text);
  }
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return quoteIfNeeded(text.length > MAX_VALUE_LENGTH ? `${text.slice(0, MAX_VALUE_LENGTH)}…` : text);
}

function quoteIfNeeded(text: string): string {
  return /[\s"=]/.test(text) || text === '' ? JSON.stringify(text) : text;
}

function clock(date: Date): string {
  const two = (value: number) => String(value).padStart(2, '0');
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}.${String(date.getMilliseconds()).padStart(3, '0')}`;
}
