import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, platformDataDir, resolveConfig, type ResolveConfigInput } from '../../src/config/index.js';
import { makeTempDir } from '../helpers/server.js';

let dataDir: string;
beforeEach(async () => {
  dataDir = await makeTempDir('cloudlocker-config-');
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

const writeConfigFile = (value: unknown) =>
  writeFile(path.join(dataDir, 'config.json'), typeof value === 'string' ? value : JSON.stringify(value));
const resolve = (input: ResolveConfigInput = {}) =>
  resolveConfig({ env: {}, cwd: '/work/dir', ...input, options: { dataDir, ...input.options } });

async function configError(input: ResolveConfigInput): Promise<ConfigError> {
  const outcome = await resolve(input).then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(outcome instanceof ConfigError)) throw new Error(`expected a ConfigError, got ${String(outcome)}`);
  return outcome;
}

describe('defaults', () => {
  it('are the documented ones when nothing is set', async () => {
    const config = await resolve();
    expect(config).toEqual({
      dataDir,
      configFile: undefined,
      token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      tokenSource: 'generated',
      port: 7575,
      host: '127.0.0.1',
      allowOrigins: [],
      tls: undefined,
      logLevel: 'info',
      logFormat: 'auto',
      maxMessageBytes: 1024 * 1024,
      maxBatchSize: 50,
      progressIntervalMs: 100,
      maxConcurrentTransfers: 4,
      maxQueuedTransfers: 64,
      maxConnections: 64,
      maxRequestsPerSecond: 200,
      payloadWorkers: 0,
      requestBurst: 400,
      maxInFlightRequests: 128,
      pingIntervalMs: 30_000,
      resumeOnStart: true,
      storage: { kind: 'local', storeDir: path.join(dataDir, 'store') },
    });
  });

  it('make a new random token each time', async () => {
    expect((await resolve()).token).not.toBe((await resolve()).token);
  });
});

describe('precedence: options > environment > config.json > defaults', () => {
  it('takes each setting from the highest layer that has it', async () => {
    await writeConfigFile({ port: 1001, host: 'localhost', maxBatchSize: 7, logLevel: 'warn', allowOrigins: ['app://file'] });
    const config = await resolve({
      env: { CLOUDLOCKER_PORT: '1002', CLOUDLOCKER_HOST: '127.0.0.2', CLOUDLOCKER_ALLOW_ORIGIN: 'app://one, app://two' },
      options: { port: 1003 },
    });
    expect(config.port).toBe(1003); // option
    expect(config.host).toBe('127.0.0.2'); // environment
    expect(config.allowOrigins).toEqual(['app://one', 'app://two']); // environment, comma-separated
    expect(config.maxBatchSize).toBe(7); // file
    expect(config.logLevel).toBe('warn'); // file
    expect(config.progressIntervalMs).toBe(100); // default
    expect(config.configFile).toBe(path.join(dataDir, 'config.json'));
  });

  it('treats an empty environment variable as unset', async () => {
    await writeConfigFile({ port: 1001 });
    expect((await resolve({ env: { CLOUDLOCKER_PORT: '' } })).port).toBe(1001);
  });

  it('reads booleans and numbers from the environment', async () => {
    const config = await resolve({
      env: {
        CLOUDLOCKER_STORAGE: 's3',
        CLOUDLOCKER_S3_BUCKET: 'my-bucket',
        CLOUDLOCKER_S3_FORCE_PATH_STYLE: 'true',
        CLOUDLOCKER_S3_ENDPOINT: 'http://127.0.0.1:9000',
        CLOUDLOCKER_MAX_CONCURRENT_TRANSFERS: '8',
      },
    });
    expect(config.storage).toEqual({
      kind: 's3',
      bucket: 'my-bucket',
      prefix: '',
      region: undefined,
      endpoint: 'http://127.0.0.1:9000',
      forcePathStyle: true,
    });
    expect(config.maxConcurrentTransfers).toBe(8);
  });

  it('resolves relative paths: config.json against the data directory, the rest against the working directory', async () => {
    await writeConfigFile({ storeDir: 'my-store', tlsCert: 'c.pem', tlsKey: 'k.pem' });
    const fromFile = await resolve();
    expect(fromFile.storage).toEqual({ kind: 'local', storeDir: path.join(dataDir, 'my-store') });
    expect(fromFile.tls).toEqual({ certPath: path.join(dataDir, 'c.pem'), keyPath: path.join(dataDir, 'k.pem') });
    const fromOptions = await resolve({ options: { storeDir: 'other-store' } });
    expect(fromOptions.storage).toEqual({ kind: 'local', storeDir: path.resolve('/work/dir', 'other-store') });
  });
});

describe('the data directory', () => {
  it('comes from the option, else CLOUDLOCKER_DATA_DIR, else the platform directory', async () => {
    const env = { CLOUDLOCKER_DATA_DIR: '/from/env', HOME: '/home/u', XDG_DATA_HOME: '/xdg' };
    expect((await resolveConfig({ env, options: { dataDir: '/from/option' } })).dataDir).toBe(path.resolve('/from/option'));
    expect((await resolveConfig({ env })).dataDir).toBe(path.resolve('/from/env'));
    expect((await resolveConfig({ env: { XDG_DATA_HOME: dataDir } })).dataDir).toBe(
      process.platform === 'linux' ? path.join(dataDir, 'cloudlocker') : platformDataDir({ XDG_DATA_HOME: dataDir }),
    );
  });

  it('is the usual application-data directory on each platform', () => {
    expect(platformDataDir({}, 'linux', '/home/u')).toBe('/home/u/.local/share/cloudlocker');
    expect(platformDataDir({ XDG_DATA_HOME: '/data' }, 'linux', '/home/u')).toBe('/data/cloudlocker');
    expect(platformDataDir({ XDG_DATA_HOME: 'relative' }, 'linux', '/home/u')).toBe('/home/u/.local/share/cloudlocker');
    expect(platformDataDir({}, 'darwin', '/Users/u')).toBe('/Users/u/Library/Application Support/cloudlocker');
    expect(platformDataDir({ APPDATA: 'C:\\Users\\u\\AppData\\Roaming' }, 'win32', 'C:\\Users\\u')).toBe(
      'C:\\Users\\u\\AppData\\Roaming\\cloudlocker',
    );
    expect(platformDataDir({}, 'win32', 'C:\\Users\\u')).toBe('C:\\Users\\u\\AppData\\Roaming\\cloudlocker');
  });
});

describe('the token', () => {
  const good = 'a-launcher-token-of-32-characters-';

  it('comes from the option, else CLOUDLOCKER_TOKEN', async () => {
    expect(await resolve({ env: { CLOUDLOCKER_TOKEN: good } })).toMatchObject({ token: good, tokenSource: 'environment' });
    expect(await resolve({ env: { CLOUDLOCKER_TOKEN: 'x'.repeat(40) }, options: { token: good } })).toMatchObject({
      token: good,
      tokenSource: 'option',
    });
  });

  it('must carry at least 128 bits, and a refusal never repeats it', async () => {
    for (const token of ['short-token', 'has spaces in it but is long enough', 'é'.repeat(30)]) {
      const error = await configError({ env: { CLOUDLOCKER_TOKEN: token } });
      expect(error.message).toMatch(/CLOUDLOCKER_TOKEN must be 22 to 1024 printable ASCII characters/);
      expect(error.message).not.toContain(token);
    }
    expect((await resolve({ options: { token: 'x'.repeat(22) } })).token).toHaveLength(22);
  });

  it('cannot be set in config.json', async () => {
    await writeConfigFile({ token: good });
    const error = await configError({});
    expect(error.message).toMatch(/must not hold the token: pass it in the CLOUDLOCKER_TOKEN environment variable/);
    expect(error.message).not.toContain(good);
  });
});

describe('mistakes are clear startup errors', () => {
  it('names a config.json that is not JSON', async () => {
    await writeConfigFile('{ "port": 7575, }');
    const error = await configError({});
    expect(error.message).toContain(path.join(dataDir, 'config.json'));
    expect(error.message).toMatch(/is not valid JSON/);
  });

  it('refuses a config.json that is not an object', async () => {
    await writeConfigFile('[1, 2]');
    expect((await configError({})).message).toMatch(/must hold a JSON object of settings/);
  });

  it('names a wrong value or an unknown setting and where it came from', async () => {
    await writeConfigFile({ port: 70000, prot: 1 });
    const error = await configError({});
    expect(error.message).toContain(`"port" in ${path.join(dataDir, 'config.json')} must be <= 65535`);
    expect(error.message).toContain(`"prot" in ${path.join(dataDir, 'config.json')} is not a setting`);
    await rm(path.join(dataDir, 'config.json'));

    expect((await configError({ env: { CLOUDLOCKER_PORT: 'eighty' } })).message).toContain('CLOUDLOCKER_PORT must be integer');
    expect((await configError({ env: { CLOUDLOCKER_LOG_LEVEL: 'loud' } })).message).toMatch(/CLOUDLOCKER_LOG_LEVEL must be equal to one of the allowed values \(fatal, error/);
    expect((await configError({ options: { maxBatchSize: 0 } })).message).toContain('option maxBatchSize must be >= 1');
    expect((await configError({ options: { maxBatchSize: 0 }, optionsSource: 'cli' })).message).toContain('--max-batch-size must be >= 1');
  });

  it('refuses half a TLS pair, and S3 storage without a bucket', async () => {
    expect((await configError({ options: { tlsCert: 'c.pem' } })).message).toMatch(/tlsCert and tlsKey go together/);
    expect((await configError({ options: { storage: 's3' } })).message).toMatch(/storage "s3" needs a bucket/);
  });

  it('reports an unreadable config.json by its error code', async () => {
    await mkdir(path.join(dataDir, 'config.json'));
    expect((await configError({})).message).toMatch(/Cannot read .*config\.json \(EISDIR\)/);
  });
});
