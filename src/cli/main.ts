#!/usr/bin/env node
/**
 * The `cloudlocker` command. Each subcommand lives in its own file under
 * commands/ and is added here.
 */
import { Command } from 'commander';
import { packageVersion } from '../server/package-version.js';
import { serveCommand } from './commands/serve.js';

const program = new Command('cloudlocker')
  .description('Local encrypted-file service for desktop apps: wss JSON-RPC 2.0, client-side AES-256-GCM.')
  .version(packageVersion())
  .addCommand(serveCommand());

try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.stderr.write(`cloudlocker: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
