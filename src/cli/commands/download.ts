/** `cloudlocker download NAME --to DEST [--key K] [--overwrite]`: fetch, authenticate and decrypt a stored file (no --key: the unlocked identity). */
import path from 'node:path';
import { Command } from 'commander';
import { addClientOptions, defaultContext, runWithClient, type ClientFlags, type CommandContext } from '../client-command.js';
import { ExitCode, requireOptions } from '../exit-codes.js';
import { formatBytes } from '../human-readable.js';
import { PASSPHRASE_ENV, readPassphrase } from '../secrets.js';
import { withPassphrasePrompt } from '../passphrase-prompt.js';
import { runTransfer, type TransferFlags } from '../transfer-runner.js';
import { resolveKeepingFolderMark } from '../../transfer/local-files.js';
import { withCurrentFile } from './upload.js';
import { refusePassphraseWithoutKey } from '../upload-key.js';

interface DownloadFlags extends ClientFlags, TransferFlags {
  to?: string;
  key?: string;
  overwrite?: boolean;
  createDirs?: boolean;
  keyPassphraseFromStdin?: boolean;
  transferId?: string;
  acceptUnauthored?: boolean;
}

export function downloadCommand(context: CommandContext = defaultContext()): Command {
  return addClientOptions(
    new Command('download')
      .description('Fetch a stored file, check and decrypt it, and save it locally.')
      .argument('<name>', 'remote name of the file, or of a folder ending in "/" to download the whole folder into --to')
      // Checked in the action, not with requiredOption: commander reports a missing required option before
      // an unknown one, so a typo (--kye) read as "--key not specified".
      .option(
        '--to <path>',
        'where to save (required): an existing folder, or a path ending in "/" (or the platform\'s separator), saves into that folder; any other path is the file to write. A missing folder is an error unless --create-dirs',
      )
      .option('--create-dirs', "create the destination's missing folders")
      .option('--key <path>', 'the key file it was encrypted with (default: the identity unlocked in the service: cloudlocker unlock)')
      .option('--overwrite', 'replace an existing local file')
      .option('--accept-unauthored', 'accept an age file without an author signature (importing one made elsewhere, e.g. with age -r)')
      .option('--key-passphrase-from-stdin', `read the key's passphrase as one line from standard input (else ${PASSPHRASE_ENV})`)
      .option('--transfer-id <id>', 'your id for the transfer (default: a random UUID)')
      .option('--no-progress', 'show no progress'),
  ).action(async (name: string, flags: DownloadFlags, command: Command) => {
    requireOptions(command, flags, { to: '--to <path>' });
    await runWithClient(flags, context, async (client, output) => {
      // No --key: the identity unlocked in the service (LOCKED when none is).
      const keyPath = flags.key === undefined ? undefined : path.resolve(flags.key);
      refusePassphraseWithoutKey(keyPath, flags.keyPassphraseFromStdin);
      const keyPassphrase = keyPath === undefined ? undefined : await readPassphrase({ fromStdin: flags.keyPassphraseFromStdin === true, env: context.env, stdin: context.stdin, stderr: context.streams.stderr, prompt: 'Key passphrase: ' });
      const paramsWith = (passphrase: string | undefined) => ({
        name,
        ...(keyPath === undefined ? {} : { keyPath }),
        // A trailing separator means "into this folder": path.resolve alone would drop it.
        destination: resolveKeepingFolderMark(flags.to!),
        ...(flags.overwrite === true ? { overwrite: true } : {}),
        ...(flags.acceptUnauthored === true ? { acceptUnauthored: true } : {}),
        ...(flags.createDirs === true ? { createDirectories: true } : {}),
        ...(flags.transferId === undefined ? {} : { transferId: flags.transferId }),
        ...(passphrase === undefined ? {} : { keyPassphrase: passphrase }),
      });
      const params = paramsWith(keyPassphrase);
      if (name.endsWith('/')) {
        // "folder/": the whole stored folder, recreated as <--to>/<last segment>/..., one transfer group.
        const folderParams = (passphrase: string | undefined) => ({ ...paramsWith(passphrase), name: name.replace(/\/+$/, '') });
        const folderRun = await withPassphrasePrompt(keyPassphrase, { stdin: context.stdin, stderr: context.streams.stderr }, (passphrase) =>
          runTransfer(output, flags, (options) => client.downloadFolder(folderParams(passphrase), withCurrentFile(options))),
        );
        if ('interrupted' in folderRun) {
          output.note('Cancelled: the files saved before stay; none is partly written.');
          return ExitCode.INTERRUPTED;
        }
        const result = folderRun.outcome;
        output.result(result, () => {
          if ('recovered' in result) return `Downloaded ${result.name}/ (${formatBytes(result.size)}) into ${params.destination}.`;
          const lines = [`Downloaded ${result.name}/ to ${result.path}: ${result.filesSaved} of ${result.filesTotal} files, ${formatBytes(result.size)}.`];
          for (const failure of result.failed) lines.push(`Not saved: ${failure.name ?? failure.path}: ${failure.error.message}`);
          return lines;
        });
        return 'failed' in result && result.failed.length > 0 ? ExitCode.FAILURE : undefined;
      }
      const run = await withPassphrasePrompt(keyPassphrase, { stdin: context.stdin, stderr: context.streams.stderr }, (passphrase) =>
        runTransfer(output, flags, (options) => client.download(paramsWith(passphrase), options)),
      );
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
