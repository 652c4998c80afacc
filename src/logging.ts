/**
 * One logger for the whole process: pino, to stderr (stdout is left to the
 * CLI's own output): one JSON line per event, or a human line when stderr is
 * a terminal or `logFormat: 'pretty'` (logging/pretty.ts). Secrets never reach a log line:
 * the paths below are censored wherever they appear, and callers log URL
 * paths without their query string (which can carry the token).
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import { prettyDestination } from './logging/pretty.js';

export type { Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const LOG_FORMATS = ['auto', 'pretty', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * Field names that carry a secret: the token, every passphrase a method
 * takes (keyPassphrase of upload/download/resume, passphrase of
 * createKey/getIdentity/the users methods, newPassphrase of changePassphrase),
 * the S3 secret key and session token, and HTTP authorization. A new
 * secret-bearing param name belongs here (test/server/logging.test.ts logs
 * every one of them).
 */
export const SECRET_FIELD_NAMES: readonly string[] = [
  'token',
  'passphrase',
  'keyPassphrase',
  'newPassphrase',
  'secretAccessKey',
  'sessionToken',
  'authorization',
];

/**
 * Field paths censored in every log line: a secret field at the top level,
 * one level down, and in the params of a logged request or message
 * (`{ request: { params: { passphrase } } }`).
 */
export const REDACTED_PATHS: readonly string[] = [
  ...SECRET_FIELD_NAMES.flatMap((field) => [field, `*.${field}`, `params.${field}`, `*.params.${field}`]),
  'headers.authorization',
  '*.headers.authorization',
  'headers.cookie',
  '*.headers.cookie',
];

export interface CreateLoggerOptions {
  /** Default: 'info'. */
  level?: LogLevel;
  /** Where the JSON lines go. Default: stderr (file descriptor 2), written synchronously so nothing is lost at exit. */
  destination?: DestinationStream;
  /** Without a destination: 'pretty' human lines, 'json' lines, or 'auto' (pretty when stderr is a terminal). Default 'auto'. */
  format?: LogFormat;
}

export function createLogger(options: CreateLoggerOptions = {}): Logger {
  return pino(
    {
      name: 'cloudlocker',
      level: options.level ?? 'info',
      redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' },
    },
    options.destination ?? defaultDestination(options.format ?? 'auto'),
  );
}

function defaultDestination(format: LogFormat): DestinationStream {
  const pretty = format === 'pretty' || (format === 'auto' && process.stderr.isTTY === true);
  if (!pretty) return pino.destination({ fd: 2, sync: true });
  // Colour only for a terminal that wants it (https://no-color.org).
  return prettyDestination({ colour: process.stderr.isTTY === true && (process.env['NO_COLOR'] ?? '') === '' });
}

/** The path of a request URL without its query string, which may hold the token. */
export function urlPathForLog(url: string | undefined): string {
  if (url === undefined) return '';
  const end = url.search(/[?#]/);
  const path = end === -1 ? url : url.slice(0, end);
  // A path is attacker-chosen: keep log lines short.
  return path.length > 200 ? `${path.slice(0, 200)}…` : path;
}
