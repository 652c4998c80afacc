/** `cloudlocker upload FILE [--key K | --new-key K] [--name N] [--overwrite]`: encrypt a local file and store it (no key flag: the unlocked identity). */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { Command, Option } from 'commander';
import { addClientOptions, defaultContext, runWithClient, type ClientFlags, type CommandContext } from '../client-command.js';
import { ExitCode } from '../exit-codes.js';
import { formatBytes } from '../human-readable.js';
import { PASSPHRASE_ENV, readPassphrase } from '../secrets.js';
import { withPassphrasePrompt } from '../passphrase-prompt.js';
import { runTransfer, type TransferFlags } from '../transfer-runner.js';
import type { TransferOptions } from '../../client/node.js';
import { refusePassphraseWithoutKey, uploadKeyPath, type UploadKeyFlags } from '../upload-key.js';

interface UploadFlags extends ClientFlags, TransferFlags, UploadKeyFlags {
  name?: string;
  overwrite?: boolean;
  keyPassphraseFromStdin?: boolean;
  transferId?: string;
  keyType?: string;
  recipient?: string[];
}

const KEY_TYPES = ['X25519', 'mlkem768x25519', 'v1'] as const;

export function uploadCommand(context: CommandContext = defaultContext()): Command {
  return addClientOptions(
    new Command('upload')
      .description('Encrypt a local file with a key file (or the unlocked identity) and store it; a folder is stored whole, as <name>/<relative path> (links not followed).')
      .argument('<file>', 'the local file or folder')
      .option('--key <path>', 'the key file to encrypt with (it must exist); without --key or --new-key: the identity unlocked in the service (cloudlocker unlock)')
      .option('--new-key <path>', 'create a new key: at this path (which must not exist yet), or as <name>.key.txt (v1: .key.json) in this folder')
      .addOption(new Option('--key-type <type>', 'the kind of key --new-key creates: an age identity (X25519, or mlkem768x25519: post-quantum), or v1').choices(KEY_TYPES).default('X25519'))
      .option('--recipient <recipient>', 'also encrypt to this age recipient (age1…) or public card (cloudlockercard1…); repeat for more', (value: string, previous: string[] = []) => [...previous, value])
      .option('--name <name>', "remote name (default: the file's base name)")
      .option('--overwrite', 'replace a stored file of the same name')
      .option('--key-passphrase-from-stdin', `read the key's passphrase (or the new key's) as one line from standard input (else ${PASSPHRASE_ENV})`)
      .option('--transfer-id <id>', 'your id for the transfer (default: a random UUID), e.g. to cancel it from elsewhere')
      .option('--no-progress', 'show no progress'),
  ).action(async (file: string, flags: UploadFlags) => {
    await runWithClient(flags, context, async (client, output) => {
      // The service resolves relative paths against its own working directory, not ours.
      // Neither --key nor --new-key: undefined, the identity unlocked in the service (LOCKED when none is).
      const keyPath = await uploadKeyPath(flags, flags.name ?? path.basename(file));
      refusePassphraseWithoutKey(keyPath, flags.keyPassphraseFromStdin);
      const keyPassphrase = keyPath === undefined ? undefined : await readPassphrase({ fromStdin: flags.keyPassphraseFromStdin === true, env: context.env, stdin: context.stdin, stderr: context.streams.stderr, prompt: 'Key passphrase: ' });
      const paramsWith = (passphrase: string | undefined) => ({
        path: path.resolve(file),
        ...(keyPath === undefined ? {} : { keyPath }),
        ...(flags.name === undefined ? {} : { name: flags.name }),
        ...(flags.overwrite === true ? { overwrite: true } : {}),
        ...(flags.transferId === undefined ? {} : { transferId: flags.transferId }),
        ...(passphrase === undefined ? {} : { keyPassphrase: passphrase }),
        ...(flags.newKey !== undefined && flags.keyType !== undefined ? { keyType: flags.keyType as (typeof KEY_TYPES)[number] } : {}),
        ...(flags.recipient === undefined ? {} : { recipients: flags.recipient }),
      });
      const params = paramsWith(keyPassphrase);
      if (await isFolder(params.path)) {
        // A folder: one transfer group, one progress bar showing the file in progress.
        const folderRun = await withPassphrasePrompt(keyPassphrase, { stdin: context.stdin, stderr: context.streams.stderr }, (passphrase) =>
          runTransfer(output, flags, (options) => client.uploadFolder(paramsWith(passphrase), withCurrentFile(options))),
        );
        if ('interrupted' in folderRun) {
          output.note('Cancelled: the files stored before stay; none is partly stored.');
          return ExitCode.INTERRUPTED;
        }
        const result = folderRun.outcome;
        output.result(result, () => {
          if ('recovered' in result) return `Uploaded ${params.path} as ${result.name}/ (${formatBytes(result.size)}); the connection dropped meanwhile: see "cloudlocker transfers".`;
          const lines = [
            `Uploaded ${params.path} as ${result.name}/: ${result.filesStored} of ${result.filesTotal} files, ${formatBytes(result.size)}, key ${result.keyPath} (key id ${result.keyId}).`,
          ];
          for (const failure of result.failed) lines.push(`Not stored: ${failure.path}: ${failure.error.message}`);
          for (const skip of result.skipped) lines.push(`Skipped ${skip.path}: ${SKIP_WORDING[skip.reason]}.`);
          if (result.keyCreated) lines.push(`Created the key file ${result.keyPath}: back it up. Without it ${result.name}/ cannot be decrypted.`);
          return lines;
        });
        return 'failed' in result && result.failed.length > 0 ? ExitCode.FAILURE : undefined;
      }
      const run = await withPassphrasePrompt(keyPassphrase, { stdin: context.stdin, stderr: context.streams.stderr }, (passphrase) =>
        runTransfer(output, flags, (options) => client.upload(paramsWith(passphrase), options)),
      );
      if ('interrupted' in run) {
        output.note('Cancelled: nothing was stored.');
        return ExitCode.INTERRUPTED;
      }
      const result = run.outcome;
      output.result(result, () => {
        if ('recovered' in result) {
          return `Uploaded ${params.path} as ${result.name} (${formatBytes(result.size)}). The connection dropped meanwhile, so which key file was used is not known: see "cloudlocker info ${result.name}".`;
        }
        const lines = [`Uploaded ${params.path} as ${result.name}: ${formatBytes(result.size)} (${formatBytes(result.storedSize)} stored), key ${result.keyPath} (key id ${result.keyId}).`];
        if (result.keyCreated) lines.push(`Created the key file ${result.keyPath}: back it up. Without it ${result.name} cannot be decrypted.`);
        return lines;
      });
    });
  });
}

const SKIP_WORDING = {
  'symbolic-link': 'a symbolic link, not followed',
  'special-file': 'not a regular file (a pipe, socket or device)',
  'unstorable-name': 'its name cannot be stored (see the remote-name rules)',
} as const;

async function isFolder(localPath: string): Promise<boolean> {
  return (await stat(localPath).catch(() => undefined))?.isDirectory() === true;
}

/** A group's progress shown under the name of the file in progress. */
export function withCurrentFile(options: TransferOptions): TransferOptions {
  const onProgress = options.onProgress;
  if (onProgress === undefined) return options;
  return { ...options, onProgress: (progress) => onProgress({ ...progress, name: progress.group?.currentFile ?? progress.name }) };
}
