/** `cloudlocker download NAME --to DEST --key K [--overwrite]`: fetch, authenticate and decrypt a stored file. */
import path from 'node:path';
import { Command } from 'commander';
import { addClientOptions, defaultContext, runWithClient, type ClientFlags, type CommandContext } from '../client-command.js';
import { ExitCode } from '../exit-codes.js';
import { formatBytes } from '../human-readable.js';
import { PASSPHRASE_ENV, readPassphrase } from '../secrets.js';
import { runTransfer, type TransferFlags } from '../transfer-runner.js';

interface DownloadFlags extends ClientFlags, TransferFlags {
  to: string;
  key: string;
  overwrite?: boolean;
  keyPassphraseFromStdin?: boolean;
  transferId?: string;
}

export function downloadCommand(context: CommandContext = defaultContext()): Command {
  return addClientOptions(
    new Command('download')
      .description('Fetch a stored file, check and decrypt it, and save it locally.')
      .argument('<name>', 'remote name of the file')
      .requiredOption('--to <path>', 'a directory to save into, or the file path to write')
      .requiredOption('--key <path>', 'the key file it was encrypted with')
      .option('--overwrite', 'replace an existing local file')
      .option('--key-passphrase-from-stdin', `read the key's passphrase as one line from standard input (else ${PASSPHRASE_ENV})`)
      .option('--transfer-id <id>', 'your id for the transfer (default: a random UUID)')
      .option('--no-progress', 'show no progress'),
  ).action(async (name: string, flags: DownloadFlags) => {
    await runWithClient(flags, context, async (client, output) => {
      const keyPassphrase = await readPassphrase({ fromStdin: flags.keyPassphraseFromStdin === true, env: context.env, stdin: context.stdin, stderr: context.streams.stderr, prompt: 'Key passphrase: ' });
      const params = {
        name,
        keyPath: path.resolve(flags.key),
        destination: path.resolve(flags.to),
        ...(flags.overwrite === true ? { overwrite: true } : {}),
        ...(flags.transferId === undefined ? {} : { transferId: flags.transferId }),
        ...(keyPassphrase === undefined ? {} : { keyPassphrase }),
      };
      const run = await runTransfer(output, flags, (options) => client.download(params, options));
      if ('interrupted' in run) {
        output.note('Cancelled: no file was written.');
        return ExitCode.INTERRUPTED;
      }
      const result = run.outcome;
      output.result(result, () =>
        'recovered' in result
          ? `Downloaded ${result.name} (${formatBytes(result.size)}) into ${params.destination}.`
          : `Downloaded ${result.name} to ${result.path} (${formatBytes(result.size)}).`,
      );
    });
  });
}
