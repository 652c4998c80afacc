/**
 * One logger for the whole process: pino, one JSON line per event, to stderr
 * (stdout is left to the CLI's own output). Secrets never reach a log line:
 * the paths below are censored wherever they appear, and callers log URL
 * paths without their query string (which can carry the token).
 */
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Field paths censored in every log line, at the top level and one level down. */
export const REDACTED_PATHS: readonly string[] = [
  'token',
  '*.token',
  'passphrase',
  '*.passphrase',
  'keyPassphrase',
  '*.keyPassphrase',
  'authorization',
  '*.authorization',
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
}

export function createLogger(options: CreateLoggerOptions = {}): Logger {
  return pino(
    {
      name: 'cloudlocker',
      level: options.level ?? 'info',
      redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' },
    },
    options.destination ?? pino.destination({ fd: 2, sync: true }),
  );
}

/** The path of a request URL without its query string, which may hold the token. */
export function urlPathForLog(url: string | undefined): string {
  if (url === undefined) return '';
  const end = url.search(/[?#]/);
  const path = end === -1 ? url : url.slice(0, end);
  // A path is attacker-chosen: keep log lines short.
  return path.length > 200 ? `${path.slice(0, 200)}…` : path;
}
