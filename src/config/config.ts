/**
 * Where the server's settings come from, in order of precedence:
 * options (command-line flags, or the object an embedding app passes) >
 * CLOUDLOCKER_* environment variables > `<dataDir>/config.json` > defaults.
 *
 * The data directory itself comes from options > CLOUDLOCKER_DATA_DIR > the
 * platform's application-data directory (config.json lives inside it). The
 * token comes only from options or CLOUDLOCKER_TOKEN, never from a flag
 * (visible in `ps`) or a file; without one a fresh random token is made at
 * every start.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { FromSchema } from 'json-schema-to-ts';
import {
  DEFAULT_MAX_BATCH_SIZE,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_PORT,
  DEFAULT_PROGRESS_INTERVAL_MS,
} from '../../protocol/index.js';
import type { LogFormat, LogLevel } from '../logging.js';
import { SETTINGS_SCHEMA, SETTING_NAMES, environmentVariableOf, flagOf, type SettingName } from './config-schema.js';
import { platformDataDir } from './data-dir.js';
import { SETTINGS_VALIDATOR } from './settings-validator.generated.js';

/** Every setting, all optional: one layer's worth (a flag set, the environment, config.json). */
export type Settings = FromSchema<typeof SETTINGS_SCHEMA>;

/** What an embedding app or the CLI passes in: settings plus the data directory and token. */
export type ConfigInput = Settings & {
  /** Default: CLOUDLOCKER_DATA_DIR, else the platform's application-data directory + "/cloudlocker". */
  dataDir?: string;
  /** At least 22 characters (128 bits) of printable ASCII. Default: CLOUDLOCKER_TOKEN, else 32 random bytes, base64url. */
  token?: string;
};

/** The storage backend the configuration chose, with its settings resolved (storage/index.ts's StorageConfig is what createStorage takes). */
export type ConfiguredStorage =
  | { readonly kind: 'local'; readonly storeDir: string }
  | {
      readonly kind: 's3';
      readonly bucket: string;
      readonly prefix: string;
      readonly region: string | undefined;
      readonly endpoint: string | undefined;
      readonly forcePathStyle: boolean;
    };

/** The resolved configuration: every value decided, paths absolute. */
export interface ServerConfig {
  readonly dataDir: string;
  /** The config.json that was read, if there was one. */
  readonly configFile: string | undefined;
  readonly token: string;
  readonly tokenSource: 'option' | 'environment' | 'generated';
  readonly port: number;
  readonly host: string;
  readonly allowOrigins: readonly string[];
  /** The user's own certificate and key; undefined means the generated self-signed one. */
  readonly tls: { readonly certPath: string; readonly keyPath: string } | undefined;
  readonly logLevel: LogLevel;
  /** 'auto': human lines when stderr is a terminal, JSON lines otherwise. */
  readonly logFormat: LogFormat;
  readonly maxMessageBytes: number;
  readonly maxBatchSize: number;
  readonly progressIntervalMs: number;
  readonly maxConcurrentTransfers: number;
  readonly maxQueuedTransfers: number;
  /** Open WebSocket connections at once; the next handshake is refused with HTTP 503. */
  readonly maxConnections: number;
  /** JSON-RPC messages per second one connection may send on average; more are answered BUSY. */
  readonly maxRequestsPerSecond: number;
  /** Messages one connection may send at once after a quiet spell (the token bucket's size). */
  readonly requestBurst: number;
  /** Requests of one connection running at the same time; more are answered BUSY. */
  readonly maxInFlightRequests: number;
  /** How often each connection is pinged; one that has not answered the previous ping is cut off. */
  readonly pingIntervalMs: number;
  /** Resume the transfers a crash or shutdown interrupted as soon as the server starts (else: on resumeTransfer). */
  readonly resumeOnStart: boolean;
  /** Worker threads that encrypt and decrypt age files off the JavaScript thread (0: none). */
  readonly payloadWorkers: number;
  readonly storage: ConfiguredStorage;
}

export const DEFAULT_SETTINGS = {
  port: DEFAULT_PORT,
  host: '127.0.0.1',
  allowOrigins: [] as string[],
  logLevel: 'info' as LogLevel,
  logFormat: 'auto' as LogFormat,
  maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
  maxBatchSize: DEFAULT_MAX_BATCH_SIZE,
  progressIntervalMs: DEFAULT_PROGRESS_INTERVAL_MS,
  storage: 'local' as const,
  s3Prefix: '',
  s3ForcePathStyle: false,
  maxConcurrentTransfers: 4,
  maxQueuedTransfers: 64,
  maxConnections: 64,
  maxRequestsPerSecond: 200,
  requestBurst: 400,
  maxInFlightRequests: 128,
  pingIntervalMs: 30_000,
  resumeOnStart: true,
  // None: on two cores a thread gained nothing (crypto/payload-workers.ts, DEFAULT_PAYLOAD_WORKERS).
  payloadWorkers: 0,
} as const;

export const CONFIG_FILE_NAME = 'config.json';
export const MIN_TOKEN_LENGTH = 22;
const MAX_TOKEN_LENGTH = 1024;

/** A setting is wrong; the message names where it came from and what to do. Never carries a token. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export interface ResolveConfigInput {
  /** Highest precedence: flags or the embedding app's options. */
  options?: ConfigInput;
  /** How `options` are named in messages: 'cli' says "--port", 'api' says "option port". Default 'api'. */
  optionsSource?: 'cli' | 'api';
  /** Default: process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Base for relative paths in options and the environment. Default: process.cwd(). */
  cwd?: string;
}

const PATH_SETTINGS = ['tlsCert', 'tlsKey', 'storeDir'] as const satisfies readonly SettingName[];

/** `ajv.compile(SETTINGS_SCHEMA)` with `{ strict: true, allErrors: true }`, compiled at build time (tools/gen-validators.ts). */
const validateSettings = SETTINGS_VALIDATOR as ValidateFunction<Settings>;

export async function resolveConfig(input: ResolveConfigInput = {}): Promise<ServerConfig> {
  const env = input.env ?? process.env;
  const cwd = input.cwd ?? process.cwd();
  const { dataDir: optionDataDir, token: optionToken, ...optionSettings } = input.options ?? {};
  const optionLabel = input.optionsSource === 'cli' ? flagOf : (key: string) => `option ${key}`;

  const dataDir = path.resolve(cwd, nonEmpty(optionDataDir) ?? nonEmpty(env['CLOUDLOCKER_DATA_DIR']) ?? platformDataDir(env));

  const fromOptions = checkLayer(withoutUndefined(optionSettings), (key) => optionLabel(key));
  const fromEnvironment = checkLayer(settingsFromEnvironment(env), (key) => environmentVariableOf(key));
  const configFile = path.join(dataDir, CONFIG_FILE_NAME);
  const fileSettings = await readConfigFile(configFile);
  const fromFile = fileSettings === undefined ? {} : checkLayer(fileSettings, (key) => `"${key}" in ${configFile}`);

  const relativeTo = (layer: Settings, base: string): Settings => {
    const resolved: Settings = { ...layer };
    for (const key of PATH_SETTINGS) {
      const value = layer[key];
      if (value !== undefined) resolved[key] = path.resolve(base, value);
    }
    return resolved;
  };
  const merged: Settings = {
    ...relativeTo(fromFile, dataDir),
    ...relativeTo(fromEnvironment, cwd),
    ...relativeTo(fromOptions, cwd),
  };

  const { token, tokenSource } = resolveToken(optionToken, env);
  const settings = { ...DEFAULT_SETTINGS, ...merged };

  if ((settings.tlsCert === undefined) !== (settings.tlsKey === undefined)) {
    throw new ConfigError('tlsCert and tlsKey go together: give both (the certificate and its private key) or neither.');
  }
  if (settings.storage === 's3' && settings.s3Bucket === undefined) {
    throw new ConfigError(
      `storage "s3" needs a bucket: set s3Bucket (${flagOf('s3Bucket')}, ${environmentVariableOf('s3Bucket')} or config.json).`,
    );
  }

  return {
    dataDir,
    configFile: fileSettings === undefined ? undefined : configFile,
    token,
    tokenSource,
    port: settings.port,
    host: settings.host,
    allowOrigins: [...settings.allowOrigins],
    tls:
      settings.tlsCert !== undefined && settings.tlsKey !== undefined
        ? { certPath: settings.tlsCert, keyPath: settings.tlsKey }
        : undefined,
    logLevel: settings.logLevel,
    logFormat: settings.logFormat,
    maxMessageBytes: settings.maxMessageBytes,
    maxBatchSize: settings.maxBatchSize,
    progressIntervalMs: settings.progressIntervalMs,
    maxConcurrentTransfers: settings.maxConcurrentTransfers,
    maxQueuedTransfers: settings.maxQueuedTransfers,
    maxConnections: settings.maxConnections,
    maxRequestsPerSecond: settings.maxRequestsPerSecond,
    requestBurst: settings.requestBurst,
    maxInFlightRequests: settings.maxInFlightRequests,
    pingIntervalMs: settings.pingIntervalMs,
    resumeOnStart: settings.resumeOnStart,
    payloadWorkers: settings.payloadWorkers,
    storage:
      settings.storage === 's3'
        ? {
            kind: 's3',
            bucket: settings.s3Bucket as string,
            prefix: settings.s3Prefix,
            region: settings.s3Region,
            endpoint: settings.s3Endpoint,
            forcePathStyle: settings.s3ForcePathStyle,
          }
        : { kind: 'local', storeDir: settings.storeDir ?? path.join(dataDir, 'store') },
  };
}

/** A fresh token: 32 random bytes (256 bits), base64url. */
export function generateToken(): string {
  return randomBytes(32).toString('base64url');
}

function resolveToken(
  optionToken: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): { token: string; tokenSource: ServerConfig['tokenSource'] } {
  if (optionToken !== undefined) {
    checkToken(optionToken, 'The token option');
    return { token: optionToken, tokenSource: 'option' };
  }
  const fromEnvironment = nonEmpty(env['CLOUDLOCKER_TOKEN']);
  if (fromEnvironment !== undefined) {
    checkToken(fromEnvironment, 'CLOUDLOCKER_TOKEN');
    return { token: fromEnvironment, tokenSource: 'environment' };
  }
  return { token: generateToken(), tokenSource: 'generated' };
}

function checkToken(token: string, what: string): void {
  // The message must never include the token itself.
  if (token.length < MIN_TOKEN_LENGTH || token.length > MAX_TOKEN_LENGTH || !/^[\x21-\x7e]+$/.test(token)) {
    throw new ConfigError(
      `${what} must be ${MIN_TOKEN_LENGTH} to ${MAX_TOKEN_LENGTH} printable ASCII characters with no spaces ` +
        '(at least 128 bits of randomness, e.g. 32 random bytes in base64url).',
    );
  }
}

function settingsFromEnvironment(env: Readonly<Record<string, string | undefined>>): Record<string, unknown> {
  const layer: Record<string, unknown> = {};
  for (const key of SETTING_NAMES) {
    const raw = nonEmpty(env[environmentVariableOf(key)]);
    if (raw === undefined) continue;
    layer[key] = parseEnvironmentValue(key, raw);
  }
  return layer;
}

/** Strings become what the schema expects where they clearly can; anything else is left for the schema to reject. */
function parseEnvironmentValue(key: SettingName, raw: string): unknown {
  const schema = SETTINGS_SCHEMA.properties[key];
  switch (schema.type) {
    case 'integer':
      return /^-?\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw;
    case 'boolean': {
      const lower = raw.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(lower)) return true;
      if (['0', 'false', 'no', 'off'].includes(lower)) return false;
      return raw;
    }
    case 'array':
      return raw
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item !== '');
    default:
      return raw;
  }
}

async function readConfigFile(file: string): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`Cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'}): check its permissions.`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${file} is not valid JSON (${(err as Error).message}): fix or remove it.`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(`${file} must hold a JSON object of settings, like {"port": 7575}.`);
  }
  if (Object.hasOwn(value, 'token')) {
    throw new ConfigError(`${file} must not hold the token: pass it in the CLOUDLOCKER_TOKEN environment variable instead.`);
  }
  if (Object.hasOwn(value, 'dataDir')) {
    throw new ConfigError(`${file} cannot move the data directory it lives in: use --data-dir or CLOUDLOCKER_DATA_DIR.`);
  }
  return value as Record<string, unknown>;
}

function checkLayer(layer: Record<string, unknown>, label: (key: string) => string): Settings {
  if (validateSettings(layer)) return layer;
  const problems = (validateSettings.errors ?? []).slice(0, 5).map((error) => describe(error, label));
  throw new ConfigError(`Invalid configuration: ${problems.join('; ')}.`);
}

function describe(error: ErrorObject, label: (key: string) => string): string {
  if (error.keyword === 'additionalProperties') {
    const unknown = String((error.params as { additionalProperty: string }).additionalProperty).slice(0, 100);
    return `${label(unknown)} is not a setting (known: ${SETTING_NAMES.join(', ')})`;
  }
  const [key = '', ...rest] = error.instancePath.split('/').filter((part) => part !== '');
  const where = rest.length > 0 ? `${label(key)} item ${rest.join('/')}` : label(key);
  const allowed = error.keyword === 'enum' ? ` (${(error.params as { allowedValues: unknown[] }).allowedValues.join(', ')})` : '';
  return `${where} ${error.message ?? 'is invalid'}${allowed}`;
}

function withoutUndefined(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined));
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
