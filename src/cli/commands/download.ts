/** `cloudlocker download NAME... --to DEST [--key K] [--overwrite]`: fetch, authenticate and decrypt stored files and folders (no --key: the unlocked identity). */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { Command } from 'commander';
import { addClientOptions, defaultContext, runWithClient, type ClientFlags, type CommandContext } from '../client-command.js';
import { ExitCode, requireOptions, UsageError } from '../exit-codes.js';
import type { CommandOutput } from '../output.js';
import { SeveralFailures } from '../several-failures.js';
import { isRpcError, type CloudlockerClient } from '../../client/node.js';
import { formatBytes } from '../human-readable.js';
import { PASSPHRASE_ENV, readPassphrase } from '../secrets.js';
import { withPassphrasePrompt } from '../passphrase-prompt.js';
import { runTransfer, type TransferFlags, type TransferRun } from '../transfer-runner.js';
import { endsWithSeparator, resolveKeepingFolderMark } from '../../transfer/local-files.js';
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
      .description('Fetch stored files or folders, check and decrypt them, and save them locally. Several names: one after the other into the --to folder; a failure is reported and the rest still go.')
      .argument('<names...>', 'remote names of files, or of folders (ending in "/", or a name with no file of its own but files under "<name>/") to download whole into --to')
      // Checked in the action, not with requiredOption: commander reports a missing required option before
      // an unknown one, so a typo (--kye) read as "--key not specified".
      .option(
        '--to <path>',
        'where to save (required): an existing folder, or a path ending in "/" (or the platform\'s separator), saves into that folder; any other path is the file to write (one name only). A missing folder is an error unless --create-dirs',
      )
      .option('--create-dirs', "create the destination's missing folders")
      .option('--key <path>', 'the key file it was encrypted with (default: the identity unlocked in the service: cloudlocker unlock)')
      .option('--overwrite', 'replace an existing local file')
      .option('--accept-unauthored', 'accept an age file without an author signature (importing one made elsewhere, e.g. with age -r)')
      .option('--key-passphrase-from-stdin', `read the key's passphrase as one line from standard input (else ${PASSPHRASE_ENV})`)
      .option('--transfer-id <id>', 'your id for the transfer (default: a random UUID); only with one name')
      .option('--no-progress', 'show no progress'),
  ).action(async (names: string[], flags: DownloadFlags, command: Command) => {
    requireOptions(command, flags, { to: '--to <path>' });
    await runWithClient(flags, context, async (client, output) => {
      if (names.length > 1 && flags.transferId !== undefined) throw new UsageError('--transfer-id names one transfer: give one name with it.');
      // A trailing separator means "into this folder": path.resolve alone would drop it.
      let destination = resolveKeepingFolderMark(flags.to!);
      if (names.length > 1 && !endsWithSeparator(destination)) {
        // Several names go into one folder: never one file written over and over.
        const found = await stat(destination).catch(() => undefined);
        if (found?.isDirectory() !== true) {
          throw new UsageError(`With several names, --to is the folder to save them in: ${destination} is not a folder (end it with "${path.sep}" and add --create-dirs to create it).`);
        }
        destination += path.sep;
      }
      // No --key: the identity unlocked in the service (LOCKED when none is).
      const keyPath = flags.key === undefined ? undefined : path.resolve(flags.key);
      refusePassphraseWithoutKey(keyPath, flags.keyPassphraseFromStdin);
      let keyPassphrase = keyPath === undefined ? undefined : await readPassphrase({ fromStdin: flags.keyPassphraseFromStdin === true, env: context.env, stdin: context.stdin, stderr: context.streams.stderr, prompt: 'Key passphrase: ' });
      const failures = new SeveralFailures(output, names.length > 1 ? 'name' : undefined);
      for (const name of names) {
        let outcome: DownloadOutcome;
        try {
          outcome = await downloadOne(client, output, context, flags, name, destination, keyPassphrase);
        } catch (err) {
          if (failures.add(name, err) === 'stop') break;
          continue;
        }
        if (outcome.interrupted) return ExitCode.INTERRUPTED;
        keyPassphrase = outcome.passphrase;
        if (outcome.failedFiles) failures.addExitCode(ExitCode.FAILURE);
      }
      return failures.exitCode();
    });
  });
}

interface DownloadOutcome {
  readonly interrupted: boolean;
  readonly passphrase: string | undefined;
  /** A folder with files that could not be saved. */
  readonly failedFiles: boolean;
}

async function downloadOne(
  client: CloudlockerClient,
  output: CommandOutput,
  context: CommandContext,
  flags: DownloadFlags,
  name: string,
  destination: string,
  keyPassphrase: string | undefined,
): Promise<DownloadOutcome> {
  let usedPassphrase = keyPassphrase;
  const prompt = { stdin: context.stdin, stderr: context.streams.stderr };
  const paramsWith = (passphrase: string | undefined) => ({
    name,
    ...(flags.key === undefined ? {} : { keyPath: path.resolve(flags.key) }),
    destination,
    ...(flags.overwrite === true ? { overwrite: true } : {}),
    ...(flags.acceptUnauthored === true ? { acceptUnauthored: true } : {}),
    ...(flags.createDirs === true ? { createDirectories: true } : {}),
    ...(flags.transferId === undefined ? {} : { transferId: flags.transferId }),
    ...(passphrase === undefined ? {} : { keyPassphrase: passphrase }),
  });
  const downloadFolder = async (folder: string): Promise<DownloadOutcome> => {
    // "folder/": the whole stored folder, recreated as <--to>/<last segment>/..., one transfer group.
    const folderParams = (passphrase: string | undefined) => ({ ...paramsWith(passphrase), name: folder });
    const folderRun = await withPassphrasePrompt(keyPassphrase, prompt, async (passphrase) => {
      const run = await runTransfer(output, flags, (options) => client.downloadFolder(folderParams(passphrase), withCurrentFile(options)));
      usedPassphrase = passphrase;
      return run;
    });
    if ('interrupted' in folderRun) {
      output.note('Cancelled: the files saved before stay; none is partly written.');
      return { interrupted: true, passphrase: usedPassphrase, failedFiles: false };
    }
    const result = folderRun.outcome;
    output.result(result, () => {
      if ('recovered' in result) return `Downloaded ${result.name}/ (${formatBytes(result.size)}) into ${destination}.`;
      const lines = [`Downloaded ${result.name}/ to ${result.path}: ${result.filesSaved} of ${result.filesTotal} files, ${formatBytes(result.size)}.`];
      for (const failure of result.failed) lines.push(`Not saved: ${failure.name ?? failure.path}: ${failure.error.message}`);
      return lines;
    });
    return { interrupted: false, passphrase: usedPassphrase, failedFiles: 'failed' in result && result.failed.length > 0 };
  };
  if (name.endsWith('/')) return downloadFolder(name.replace(/\/+$/, ''));
  let run: TransferRun<Awaited<ReturnType<CloudlockerClient['download']>>>;
  try {
    run = await withPassphrasePrompt(keyPassphrase, prompt, async (passphrase) => {
      const attempt = await runTransfer(output, flags, (options) => client.download(paramsWith(passphrase), options));
      usedPassphrase = passphrase;
      return attempt;
    });
  } catch (err) {
    // No file of that name, but a folder of it: the folder (as `ls --folders` shows it, without its "/").
    if (isRpcError(err, 'NOT_FOUND') && (await isStoredFolder(client, name))) return downloadFolder(name);
    throw err;
  }
  if ('interrupted' in run) {
    output.note('Cancelled: no file was written.');
    return { interrupted: true, passphrase: usedPassphrase, failedFiles: false };
  }
  const result = run.outcome;
  output.result(result, () =>
    'recovered' in result
      ? `Downloaded ${result.name} (${formatBytes(result.size)}) into ${destination}.`
      : `Downloaded ${result.name} to ${result.path} (${formatBytes(result.size)}).`,
  );
  return { interrupted: false, passphrase: usedPassphrase, failedFiles: false };
}

/** Whether any stored file's name starts with "<name>/". */
async function isStoredFolder(client: CloudlockerClient, name: string): Promise<boolean> {
  const page = await client.request('listFiles', { prefix: `${name}/`, limit: 1 });
  return page.files.length > 0;
}
