/** `cloudlocker upload PATH... [--key K | --new-key K] [--name N] [--overwrite]`: encrypt local files and folders and store them (no key flag: the unlocked identity). */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { Command, Option } from 'commander';
import { addClientOptions, defaultContext, runWithClient, type ClientFlags, type CommandContext } from '../client-command.js';
import { ExitCode, UsageError } from '../exit-codes.js';
import type { CommandOutput } from '../output.js';
import { SeveralFailures } from '../several-failures.js';
import { formatBytes } from '../human-readable.js';
import { PASSPHRASE_ENV, readPassphrase } from '../secrets.js';
import { withPassphrasePrompt } from '../passphrase-prompt.js';
import { runTransfer, type TransferFlags } from '../transfer-runner.js';
import type { CloudlockerClient, TransferOptions } from '../../client/node.js';
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
      .description(
        'Encrypt local files with a key file (or the unlocked identity) and store them; a folder is stored whole, as <name>/<relative path> (links not followed). Several paths: one after the other; a failure is reported and the rest still go.',
      )
      .argument('<paths...>', 'the local files and/or folders')
      .option('--key <path>', 'the key file to encrypt with (it must exist); without --key or --new-key: the identity unlocked in the service (cloudlocker unlock)')
      .option('--new-key <path>', 'create a new key: at this path (which must not exist yet), or as <name>.key.txt (v1: .key.json) in this folder; with several paths, the first upload creates it and the others use it')
      .addOption(new Option('--key-type <type>', 'the kind of key --new-key creates: an age identity (X25519, or mlkem768x25519: post-quantum), or v1').choices(KEY_TYPES).default('X25519'))
      .option('--recipient <recipient>', 'also encrypt to this age recipient (age1…) or public card (cloudlockercard1…); repeat for more', (value: string, previous: string[] = []) => [...previous, value])
      .option('--name <name>', "remote name (default: the file's or folder's base name); only with one path")
      .option('--overwrite', 'replace a stored file of the same name')
      .option('--key-passphrase-from-stdin', `read the key's passphrase (or the new key's) as one line from standard input (else ${PASSPHRASE_ENV})`)
      .option('--transfer-id <id>', 'your id for the transfer (default: a random UUID), e.g. to cancel it from elsewhere; only with one path')
      .option('--no-progress', 'show no progress'),
  ).action(async (files: string[], flags: UploadFlags) => {
    await runWithClient(flags, context, async (client, output) => {
      if (files.length > 1 && flags.name !== undefined) throw new UsageError('--name names one stored file or folder: give one path with it (several paths keep their base names).');
      if (files.length > 1 && flags.transferId !== undefined) throw new UsageError('--transfer-id names one transfer: give one path with it.');
      // The service resolves relative paths against its own working directory, not ours.
      // Neither --key nor --new-key: undefined, the identity unlocked in the service (LOCKED when none is).
      let keyPath = await uploadKeyPath(flags, flags.name ?? path.basename(path.resolve(files[0]!)));
      refusePassphraseWithoutKey(keyPath, flags.keyPassphraseFromStdin);
      let keyPassphrase = keyPath === undefined ? undefined : await readPassphrase({ fromStdin: flags.keyPassphraseFromStdin === true, env: context.env, stdin: context.stdin, stderr: context.streams.stderr, prompt: 'Key passphrase: ' });
      const failures = new SeveralFailures(output, files.length > 1 ? 'path' : undefined);
      for (const file of files) {
        const localPath = path.resolve(file);
        let outcome: UploadOutcome;
        try {
          outcome = await uploadOne(client, output, context, flags, localPath, keyPath, keyPassphrase);
        } catch (err) {
          if (failures.add(localPath, err) === 'stop') break;
          continue;
        }
        if (outcome.interrupted) return ExitCode.INTERRUPTED;
        // A key created by the first upload is the key of the rest; a passphrase asked for once is not asked again.
        // (Only a created key: with the unlocked identity the rest keep using it, never its file and a passphrase.)
        if (flags.newKey !== undefined && outcome.keyPath !== undefined) keyPath = outcome.keyPath;
        keyPassphrase = outcome.passphrase;
        if (outcome.failedFiles) failures.addExitCode(ExitCode.FAILURE);
      }
      return failures.exitCode();
    });
  });
}

interface UploadOutcome {
  readonly interrupted: boolean;
  /** The key file used (absent when the connection dropped and the result was recovered without it). */
  readonly keyPath?: string;
  readonly passphrase: string | undefined;
  /** A folder with files that could not be stored. */
  readonly failedFiles: boolean;
}

async function uploadOne(
  client: CloudlockerClient,
  output: CommandOutput,
  context: CommandContext,
  flags: UploadFlags,
  localPath: string,
  keyPath: string | undefined,
  keyPassphrase: string | undefined,
): Promise<UploadOutcome> {
  let usedPassphrase = keyPassphrase;
  const paramsWith = (passphrase: string | undefined) => ({
    path: localPath,
    ...(keyPath === undefined ? {} : { keyPath }),
    ...(flags.name === undefined ? {} : { name: flags.name }),
    ...(flags.overwrite === true ? { overwrite: true } : {}),
    ...(flags.transferId === undefined ? {} : { transferId: flags.transferId }),
    ...(passphrase === undefined ? {} : { keyPassphrase: passphrase }),
    ...(flags.newKey !== undefined && flags.keyType !== undefined ? { keyType: flags.keyType as (typeof KEY_TYPES)[number] } : {}),
    ...(flags.recipient === undefined ? {} : { recipients: flags.recipient }),
  });
  const prompt = { stdin: context.stdin, stderr: context.streams.stderr };
  if (await isFolder(localPath)) {
    // uploadFolder takes neither extra recipients nor a key type (a new key for a folder is an X25519 identity).
    if (flags.recipient !== undefined) throw new UsageError(`${localPath} is a folder: --recipient is for single files (folders are encrypted to the key's own identity only).`);
    if (flags.newKey !== undefined && flags.keyType !== undefined && flags.keyType !== 'X25519' && keyPath === path.resolve(flags.newKey)) {
      throw new UsageError(`${localPath} is a folder: a new key for a folder is an X25519 identity (--key-type ${flags.keyType} is for single files).`);
    }
    const folderParams = (passphrase: string | undefined) => {
      const { keyType: _keyType, recipients: _recipients, ...params } = paramsWith(passphrase);
      return params;
    };
    // A folder: one transfer group, one progress bar showing the file in progress.
    const folderRun = await withPassphrasePrompt(keyPassphrase, prompt, async (passphrase) => {
      const run = await runTransfer(output, flags, (options) => client.uploadFolder(folderParams(passphrase), withCurrentFile(options)));
      usedPassphrase = passphrase;
      return run;
    });
    if ('interrupted' in folderRun) {
      output.note('Cancelled: the files stored before stay; none is partly stored.');
      return { interrupted: true, passphrase: usedPassphrase, failedFiles: false };
    }
    const result = folderRun.outcome;
    output.result(result, () => {
      if ('recovered' in result) return `Uploaded ${localPath} as ${result.name}/ (${formatBytes(result.size)}); the connection dropped meanwhile: see "cloudlocker transfers".`;
      const lines = [
        `Uploaded ${localPath} as ${result.name}/: ${result.filesStored} of ${result.filesTotal} files, ${formatBytes(result.size)}, key ${result.keyPath} (key id ${result.keyId}).`,
      ];
      for (const failure of result.failed) lines.push(`Not stored: ${failure.path}: ${failure.error.message}`);
      for (const skip of result.skipped) lines.push(`Skipped ${skip.path}: ${SKIP_WORDING[skip.reason]}.`);
      if (result.keyCreated) lines.push(`Created the key file ${result.keyPath}: back it up. Without it ${result.name}/ cannot be decrypted.`);
      return lines;
    });
    return {
      interrupted: false,
      ...('keyPath' in result ? { keyPath: result.keyPath } : {}),
      passphrase: usedPassphrase,
      failedFiles: 'failed' in result && result.failed.length > 0,
    };
  }
  const run = await withPassphrasePrompt(keyPassphrase, prompt, async (passphrase) => {
    const attempt = await runTransfer(output, flags, (options) => client.upload(paramsWith(passphrase), options));
    usedPassphrase = passphrase;
    return attempt;
  });
  if ('interrupted' in run) {
    output.note('Cancelled: nothing was stored.');
    return { interrupted: true, passphrase: usedPassphrase, failedFiles: false };
  }
  const result = run.outcome;
  output.result(result, () => {
    if ('recovered' in result) {
      return `Uploaded ${localPath} as ${result.name} (${formatBytes(result.size)}). The connection dropped meanwhile, so which key file was used is not known: see "cloudlocker info ${result.name}".`;
    }
    const lines = [`Uploaded ${localPath} as ${result.name}: ${formatBytes(result.size)} (${formatBytes(result.storedSize)} stored), key ${result.keyPath} (key id ${result.keyId}).`];
    if (result.keyCreated) lines.push(`Created the key file ${result.keyPath}: back it up. Without it ${result.name} cannot be decrypted.`);
    return lines;
  });
  return { interrupted: false, ...('keyPath' in result ? { keyPath: result.keyPath } : {}), passphrase: usedPassphrase, failedFiles: false };
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
