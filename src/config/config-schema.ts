/**
 * The settings a user can give in `<dataDir>/config.json`, environment
 * variables or command-line flags, as one JSON Schema: every layer is checked
 * against it, so a typo or a wrong type is a clear startup error wherever it
 * came from.
 */
import { LOG_FORMATS, LOG_LEVELS } from '../logging.js';

export const SETTINGS_SCHEMA = {
  type: 'object',
  properties: {
    port: { type: 'integer', minimum: 0, maximum: 65535 },
    host: { type: 'string', minLength: 1, maxLength: 255 },
    allowOrigins: {
      type: 'array',
      items: { type: 'string', minLength: 1, maxLength: 2048, pattern: '^[\\x21-\\x7e]+$' },
      maxItems: 100,
    },
    tlsCert: { type: 'string', minLength: 1 },
    tlsKey: { type: 'string', minLength: 1 },
    logLevel: { type: 'string', enum: [...LOG_LEVELS] },
    logFormat: { type: 'string', enum: [...LOG_FORMATS] },
    maxMessageBytes: { type: 'integer', minimum: 1024, maximum: 100 * 1024 * 1024 },
    maxBatchSize: { type: 'integer', minimum: 1, maximum: 1000 },
    progressIntervalMs: { type: 'integer', minimum: 10, maximum: 60_000 },
    storage: { type: 'string', enum: ['local', 's3'] },
    storeDir: { type: 'string', minLength: 1 },
    s3Bucket: { type: 'string', minLength: 3, maxLength: 255 },
    s3Prefix: { type: 'string', maxLength: 512 },
    s3Region: { type: 'string', minLength: 1, maxLength: 64 },
    s3Endpoint: { type: 'string', minLength: 1, maxLength: 2048 },
    s3ForcePathStyle: { type: 'boolean' },
    maxConcurrentTransfers: { type: 'integer', minimum: 1, maximum: 64 },
    maxQueuedTransfers: { type: 'integer', minimum: 0, maximum: 100_000 },
    maxConnections: { type: 'integer', minimum: 1, maximum: 10_000 },
    maxRequestsPerSecond: { type: 'integer', minimum: 1, maximum: 1_000_000 },
    requestBurst: { type: 'integer', minimum: 1, maximum: 1_000_000 },
    maxInFlightRequests: { type: 'integer', minimum: 1, maximum: 100_000 },
    pingIntervalMs: { type: 'integer', minimum: 50, maximum: 3_600_000 },
    resumeOnStart: { type: 'boolean' },
    payloadWorkers: { type: 'integer', minimum: 0, maximum: 4 },
  },
  additionalProperties: false,
} as const;

export type SettingName = keyof (typeof SETTINGS_SCHEMA)['properties'];
export const SETTING_NAMES = Object.keys(SETTINGS_SCHEMA.properties) as SettingName[];

/** How each setting is spelled in the environment (CLOUDLOCKER_ + UPPER_SNAKE; allowOrigins is singular there). */
export function environmentVariableOf(setting: SettingName | string): string {
  if (setting === 'allowOrigins') return 'CLOUDLOCKER_ALLOW_ORIGIN';
  return `CLOUDLOCKER_${setting.replace(/[A-Z]/g, (letter) => `_${letter}`).toUpperCase()}`;
}

/** How each setting is spelled on the command line (kebab-case; allowOrigins is the repeatable --allow-origin). */
export function flagOf(setting: SettingName | string): string {
  if (setting === 'allowOrigins') return '--allow-origin';
  return `--${setting.replace(/[A-Z]/g, (letter) => `-${letter}`).toLowerCase()}`;
}
