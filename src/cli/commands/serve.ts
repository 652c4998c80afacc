/**
 * `cloudlocker serve`: run the whole service (startCloudlocker: the wss
 * front door with storage, transfer engine and file methods) in the
 * foreground until SIGINT or SIGTERM. Prints where it listens and where server.json is; the token is
 * in server.json (mode 0600) and printed only with --print-token. The token
 * is never a flag (flags show in `ps`): pass it in CLOUDLOCKER_TOKEN.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import type { ConfigInput } from '../../config/index.js';
import { LOG_FORMATS, LOG_LEVELS } from '../../logging.js';
import { ExitCode } from '../exit-codes.js';
import { ConfigError } from '../../config/index.js';
import { startCloudlocker } from '../../index.js';
import { CertificateError, DataDirInUseError, ServerStartError, type RunningServer, type ServerOptions } from '../../server/index.js';

export interface ServeFlags {
  port?: number;
  host?: string;
  dataDir?: string;
  allowOrigin?: string[];
  tlsCert?: string;
  tlsKey?: string;
  logLevel?: ConfigInput['logLevel'];
  logFormat?: ConfigInput['logFormat'];
  storage?: 'local' | 's3';
  storeDir?: string;
  s3Bucket?: string;
  s3Prefix?: string;
  s3Region?: string;
  s3Endpoint?: string;
  s3ForcePathStyle?: boolean;
  maxMessageBytes?: number;
  maxBatchSize?: number;
  progressIntervalMs?: number;
  maxConcurrentTransfers?: number;
  maxQueuedTransfers?: number;
  maxConnections?: number;
  maxRequestsPerSecond?: number;
  requestBurst?: number;
  maxInFlightRequests?: number;
  pingIntervalMs?: number;
  resumeOnStart?: boolean;
  payloadWorkers?: number;
  printToken?: boolean;
}

export interface ServeCommandOptions {
  /** Starts the service; replaceable so tests can see what the flags became. Default: startCloudlocker (server + file methods). */
  start?: (options: ServerOptions) => Promise<RunningServer>;
  /** Where the start-up lines go. Default: stdout. */
  print?: (line: string) => void;
  /** Install SIGINT/SIGTERM handlers that close the server and exit. Default true. */
  handleSignals?: boolean;
}

export function serveCommand(commandOptions: ServeCommandOptions = {}): Command {
  return new Command('serve')
    .description('Run the cloudlocker server (wss JSON-RPC) in the foreground.')
    .option('--port <number>', 'TCP port, 0 for a free one (default 7575)', integer)
    .option('--host <address>', 'address to listen on (default 127.0.0.1; anything but loopback is reachable from other machines)')
    .option('--data-dir <dir>', 'data directory (default: CLOUDLOCKER_DATA_DIR, else the platform application-data directory)')
    .option('--allow-origin <origin>', 'a browser Origin allowed to connect, exactly as sent (repeatable; default none)', collect)
    .option('--tls-cert <file>', 'your own TLS certificate (PEM) instead of the generated one')
    .option('--tls-key <file>', 'the private key (PEM) of --tls-cert')
    .addOption(new Option('--log-level <level>', 'log level (default info)').choices(LOG_LEVELS))
    .addOption(new Option('--log-format <format>', 'logs on stderr: pretty (human lines), json (one JSON object per line), auto (pretty on a terminal, else json; default)').choices(LOG_FORMATS))
    .addOption(new Option('--storage <kind>', 'storage backend (default local)').choices(['local', 's3']))
    .option('--store-dir <dir>', 'directory of the local store (default <data-dir>/store)')
    .option('--s3-bucket <bucket>', 'S3 bucket (storage s3)')
    .option('--s3-prefix <prefix>', 'key prefix inside the bucket')
    .option('--s3-region <region>', 'S3 region')
    .option('--s3-endpoint <url>', 'S3-compatible endpoint URL (MinIO, Ceph, ...)')
    .option('--s3-force-path-style', 'address the bucket in the path, as most S3-compatible servers need')
    .option('--no-s3-force-path-style', 'address the bucket as a host name (AWS default)')
    .option('--max-message-bytes <bytes>', 'largest inbound frame; bigger ones close the connection with 1009 (default 1048576)', integer)
    .option('--max-batch-size <count>', 'most requests in one JSON-RPC batch (default 50)', integer)
    .option('--progress-interval-ms <ms>', 'least time between two progress notifications of a transfer (default 100)', integer)
    .option('--max-concurrent-transfers <count>', 'transfers running at once (default 4)', integer)
    .option('--max-queued-transfers <count>', 'transfers waiting before new ones are refused with BUSY (default 64)', integer)
    .option('--max-connections <count>', 'connections at once; more are refused with HTTP 503 (default 64)', integer)
    .option('--max-requests-per-second <count>', 'requests a connection may send per second before BUSY (default 200)', integer)
    .option('--request-burst <count>', 'requests a connection may send at once above that rate (default 400)', integer)
    .option('--max-in-flight-requests <count>', 'unanswered requests per connection before BUSY (default 128)', integer)
    .option('--ping-interval-ms <ms>', 'how often each connection is pinged; one that misses a pong is closed (default 30000)', integer)
    .option('--resume-on-start', 'resume transfers interrupted by a crash or shutdown as soon as the server starts (default)')
    .option('--no-resume-on-start', 'leave interrupted transfers until a client calls resumeTransfer')
    .option('--payload-workers <count>', 'threads that encrypt and decrypt age files besides the main one, 0 to 4 (default 0: all on the main thread)', integer)
    .option('--print-token', 'also print the token (it is always in server.json, mode 0600)')
    .addHelpText(
      'after',
      '\nEnvironment: CLOUDLOCKER_TOKEN (the token to use; default: a new random one at every start),\n' +
        'CLOUDLOCKER_DATA_DIR, and CLOUDLOCKER_<SETTING> for every setting above (e.g. CLOUDLOCKER_PORT).\n' +
        'Settings file: <data-dir>/config.json. Precedence: flags > environment > config.json > defaults.',
    )
    .action(async (flags: ServeFlags) => {
      await runServe(flags, commandOptions);
    });
}

/** The flags as startServer options (what the command passes on, for tests and embedding). */
export function serveFlagsToOptions(flags: ServeFlags): ServerOptions {
  const { allowOrigin, printToken: _printToken, ...rest } = flags;
  return { ...rest, ...(allowOrigin === undefined ? {} : { allowOrigins: allowOrigin }), optionsSource: 'cli' };
}

async function runServe(flags: ServeFlags, commandOptions: ServeCommandOptions): Promise<void> {
  const start = commandOptions.start ?? startCloudlocker;
  const print = commandOptions.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  let server: RunningServer;
  try {
    server = await start(serveFlagsToOptions(flags));
  } catch (err) {
    if (err instanceof DataDirInUseError) {
      process.stderr.write(`cloudlocker: ${err.message}\n`);
      process.exitCode = ExitCode.IN_USE;
      return;
    }
    if (err instanceof ConfigError || err instanceof CertificateError || err instanceof ServerStartError) {
      process.stderr.write(`cloudlocker: ${err.message}\n`);
      process.exitCode = 1;
      return;
    }
    throw err;
  }

  print(`cloudlocker listening on ${server.url}`);
  if (server.discoveryFile !== undefined) print(`server.json: ${server.discoveryFile}`);
  print(`certificate: ${server.certificate.path} (SPKI SHA-256 ${server.certificate.spkiSha256})`);
  if (flags.printToken === true) print(`token: ${server.token}`);

  if (commandOptions.handleSignals !== false) closeOnSignals(server);
}

/**
 * A repeat signal within this time is the same request delivered twice: a
 * terminal's Ctrl+C reaches the whole process group, and `npm start`
 * forwards it to us as well.
 */
const DUPLICATE_SIGNAL_MS = 1000;

function closeOnSignals(server: RunningServer): void {
  let stoppingSince: number | undefined;
  const stop = (signal: NodeJS.Signals) => {
    if (stoppingSince !== undefined) {
      // A later second signal: the user wants out now.
      if (Date.now() - stoppingSince >= DUPLICATE_SIGNAL_MS) process.exit(130);
      return;
    }
    stoppingSince = Date.now();
    server.logger.info({ signal }, 'shutting down');
    // Handlers that never finish must not keep the process alive for ever.
    setTimeout(() => process.exit(1), 15_000).unref();
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        server.logger.error({ err }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

function integer(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a whole number.');
  return Number(value);
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
