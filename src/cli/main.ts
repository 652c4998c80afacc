#!/usr/bin/env node
/**
 * The `cloudlocker` command. Each subcommand lives in its own file under
 * commands/ and is added here. Exit codes: see exit-codes.ts (2 for usage
 * errors, which commander reports itself).
 */
// First, before any other module loads (see early-gc-tuning.ts). libuv's thread pool size is set
// before this module is even read: see launcher.cts.
import './early-gc-tuning.js';
import { Command, CommanderError } from 'commander';
import { packageVersion } from '../server/package-version.js';
import { cancelCommand } from './commands/cancel.js';
import { downloadCommand } from './commands/download.js';
import { infoCommand } from './commands/info.js';
import { cardCommand } from './commands/card.js';
import { keygenCommand } from './commands/keygen.js';
import { lsCommand } from './commands/ls.js';
import { rmCommand } from './commands/rm.js';
import { serveCommand } from './commands/serve.js';
import { transfersCommand } from './commands/transfers.js';
import { uploadCommand } from './commands/upload.js';
import { contactsCommand } from './commands/contacts.js';
import { lockCommand, publishCommand, signinCommand, unlockCommand, whoamiCommand } from './commands/identity.js';
import { exportCommand, shareCommand, unshareCommand } from './commands/share.js';
import { ExitCode } from './exit-codes.js';

const program = new Command('cloudlocker')
  .description('Local encrypted-file service for desktop apps: wss JSON-RPC 2.0, files encrypted on this machine as standard age files (format v2).')
  .version(packageVersion())
  .addHelpText(
    'after',
    '\nClient commands find the running service through <data-dir>/server.json (--data-dir, CLOUDLOCKER_DATA_DIR,\n' +
      "or the platform's data directory), or use --url with the token in CLOUDLOCKER_TOKEN.\n" +
      'Exit codes: 0 ok, 1 failure, 2 usage, 3 not found, 4 key problem, 5 service unreachable, 6 already exists, 7 data directory in use (serve), 130 interrupted.',
  );

// Each subcommand with its builder. A run names one (`cloudlocker serve ...`):
// only that one is built then, so a `serve` does not construct the other
// eighteen commands and their options before it starts (start-up time, issue
// 17). Without a known command name first (help, --version, a typo), all are.
const COMMANDS: ReadonlyArray<readonly [string, () => Command]> = [
  ['serve', serveCommand],
  ['upload', uploadCommand],
  ['download', downloadCommand],
  ['ls', lsCommand],
  ['rm', rmCommand],
  ['info', infoCommand],
  ['keygen', keygenCommand],
  ['card', cardCommand],
  ['transfers', transfersCommand],
  ['cancel', cancelCommand],
  ['unlock', unlockCommand],
  ['lock', lockCommand],
  ['whoami', whoamiCommand],
  ['publish', publishCommand],
  ['signin', signinCommand],
  ['contacts', contactsCommand],
  ['share', shareCommand],
  ['unshare', unshareCommand],
  ['export', exportCommand],
];
const named = COMMANDS.find(([name]) => name === process.argv[2]);
for (const [, build] of named === undefined ? COMMANDS : [named]) {
  // Usage errors (commander prints them) end up in the catch below; addCommand does not pass this on.
  program.addCommand(build().exitOverride());
}
program.exitOverride();

// `cloudlocker ls | head`: a reader that stops early closes the pipe; the rest
// of the output has nowhere to go, which is no failure worth a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? ExitCode.OK);
  throw err;
});

/**
 * Settles once the command has done its work (`serve`: once it listens). A
 * promise, not a top-level await: the bundle runs this file as a classic
 * script compiled with a V8 code cache, and its entry writes that cache after
 * this settles (src/cli/code-cache.ts, tools/bundle-entry.ts).
 */
export const finished: Promise<void> = program.parseAsync(process.argv).then(
  () => undefined,
  (err: unknown) => {
    if (err instanceof CommanderError) {
      // Already printed by commander; help and --version are successes.
      process.exitCode = err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
    } else {
      process.stderr.write(`cloudlocker: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = ExitCode.FAILURE;
    }
  },
);
