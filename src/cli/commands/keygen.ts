/**
 * `cloudlocker keygen PATH [--passphrase-from-stdin]`: create a new random
 * key file (mode 0600, never overwriting). It runs here, without the
 * service, with the same code the service's createKey uses.
 */
import { Command } from 'commander';
import { createKeyFile } from '../../crypto/index.js';
import { addJsonOption, defaultContext, type CommandContext } from '../client-command.js';
import { CommandOutput } from '../output.js';
import { PASSPHRASE_ENV, readPassphrase } from '../secrets.js';

interface KeygenFlags {
  passphraseFromStdin?: boolean;
  json?: boolean;
}

export function keygenCommand(context: CommandContext = defaultContext()): Command {
  return addJsonOption(
    new Command('keygen')
      .description('Create a new random key file (mode 0600); it never overwrites anything.')
      .argument('<path>', 'where to write the key file (its directory must exist)')
      .option('--passphrase-from-stdin', `protect the key with a passphrase read as one line from standard input (else ${PASSPHRASE_ENV}, if set)`),
  ).action(async (target: string, flags: KeygenFlags) => {
    const output = new CommandOutput(flags.json === true, context.streams);
    try {
      const passphrase = await readPassphrase({ fromStdin: flags.passphraseFromStdin === true, env: context.env, stdin: context.stdin, stderr: context.streams.stderr, prompt: 'New passphrase: ' });
      const created = await createKeyFile(target, passphrase === undefined ? {} : { passphrase });
      output.result({ path: created.path, keyId: created.keyId, passphraseProtected: passphrase !== undefined }, () => [
        `Created the key file ${created.path} (key id ${created.keyId}${passphrase === undefined ? '' : ', protected by a passphrase'}).`,
        'Back it up: files encrypted with it cannot be decrypted without it.',
      ]);
    } catch (err) {
      process.exitCode = output.failure(err);
    }
  });
}
