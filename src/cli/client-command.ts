/**
 * What every client command shares: how it finds and trusts the service
 * (server.json in the data directory, or --url with the token from
 * CLOUDLOCKER_TOKEN), --json, and one place that turns any failure into a
 * message on stderr and an exit code.
 */
import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { connect, discover, resolveDataDir, type CloudlockerClient, type NodeConnectOptions } from '../client/node.js';
import { UsageError } from './exit-codes.js';
import { CommandOutput, type OutputStreams } from './output.js';

export interface ClientFlags {
  dataDir?: string;
  url?: string;
  ca?: string;
  spkiSha256?: string;
  json?: boolean;
}

export interface CommandContext {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly streams: OutputStreams;
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean };
}

/**
 * The process's own streams, read when a command first uses them: every command is built at start,
 * `serve` included, and the first read of process.stdin sets up a stream on fd 0 (a few ms at each
 * start, and a handle a server never uses).
 */
export function defaultContext(): CommandContext {
  return {
    env: process.env,
    streams: {
      get stdout() {
        return process.stdout;
      },
      get stderr() {
        return process.stderr;
      },
    },
    get stdin() {
      return process.stdin;
    },
  };
}

/** A CLI waits through a short outage (a restarting service) rather than failing a long transfer at once. */
const CLI_RECONNECT = { initialDelayMs: 200, maxDelayMs: 2000, maxAttempts: 10 };

/** --json only (for commands that need no service, like keygen). */
export function addJsonOption(command: Command): Command {
  return command.option('--json', 'print each result as one JSON object per line (progress and errors as JSON lines on stderr)');
}

export function addClientOptions(command: Command): Command {
  return addJsonOption(command)
    .option('--data-dir <dir>', "the service's data directory, where server.json is (default: CLOUDLOCKER_DATA_DIR, else the platform's)")
    .option('--url <url>', 'connect to this wss:// URL instead of reading server.json; the token comes from CLOUDLOCKER_TOKEN')
    .option('--ca <file>', 'with --url: the certificate (PEM) to trust')
    .option('--spki-sha256 <hash>', "with --url: pin the certificate's public key (base64 SHA-256, as in server.json)");
}

/** Connect as the flags say. The token is never a flag: flags show in `ps`. */
export async function connectWithFlags(flags: ClientFlags, env: CommandContext['env']): Promise<CloudlockerClient> {
  const common: NodeConnectOptions = { reconnect: CLI_RECONNECT };
  if (flags.url === undefined) {
    if (flags.ca !== undefined || flags.spkiSha256 !== undefined) throw new UsageError('--ca and --spki-sha256 go with --url.');
    return connect({ ...common, dataDir: resolveDataDir(flags.dataDir, env) });
  }
  const token = env['CLOUDLOCKER_TOKEN'];
  if (token === undefined || token === '') {
    throw new UsageError('--url needs the token in the CLOUDLOCKER_TOKEN environment variable (there is no token flag: command lines are visible to every user).');
  }
  let ca: string | undefined;
  if (flags.ca !== undefined) {
    try {
      ca = await readFile(flags.ca, 'utf8');
    } catch (err) {
      throw new UsageError(`Cannot read --ca ${flags.ca}: ${(err as Error).message}`);
    }
  }
  let spkiSha256 = flags.spkiSha256;
  if (ca === undefined && spkiSha256 === undefined) {
    // The service in the data directory may be the one at this URL: then its certificate is known.
    const local = await discover({ dataDir: resolveDataDir(flags.dataDir, env) }).catch(() => undefined);
    if (local === undefined || local.url !== flags.url) {
      throw new UsageError('With --url, say which certificate to trust: --ca <file> or --spki-sha256 <hash> (both are in server.json).');
    }
    ca = local.ca;
    spkiSha256 = local.spkiSha256;
  }
  return connect({ ...common, url: flags.url, token, ...(ca === undefined ? {} : { ca }), ...(spkiSha256 === undefined ? {} : { spkiSha256 }) });
}

/**
 * Run `body` with a connected client; report a failure on stderr and set the
 * exit code. The client is always closed, so the process can end.
 */
export async function runWithClient(
  flags: ClientFlags,
  context: CommandContext,
  body: (client: CloudlockerClient, output: CommandOutput) => Promise<number | void>,
): Promise<void> {
  const output = new CommandOutput(flags.json === true, context.streams);
  let client: CloudlockerClient | undefined;
  try {
    client = await connectWithFlags(flags, context.env);
    const code = await body(client, output);
    if (typeof code === 'number') process.exitCode = code;
  } catch (err) {
    process.exitCode = output.failure(err);
  } finally {
    await client?.close();
  }
}
