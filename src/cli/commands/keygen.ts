/**
 * `cloudlocker keygen PATH [--type T] [--passphrase-from-stdin]`: create a
 * new key file (mode 0600, never overwriting): an age identity (X25519 by
 * default, or post-quantum hybrid), or a v1 key file with --type v1. It runs
 * here, without the service, with the same code the service's createKey uses.
 */
import { loadCrypto } from '../load-crypto.js';
import { Command, Option } from 'commander';
import type { NewKeyType } from '../../crypto/index.js';
import { addJsonOption, defaultContext, type CommandContext } from '../client-command.js';
import { CommandOutput } from '../output.js';
import { PASSPHRASE_ENV, readPassphrase } from '../secrets.js';

interface KeygenFlags {
  passphraseFromStdin?: boolean;
  json?: boolean;
  type: NewKeyType;
}

export function keygenCommand(context: CommandContext = defaultContext()): Command {
  return addJsonOption(
    new Command('keygen')
      .description('Create a new key file (mode 0600): an age identity by default; it never overwrites anything.')
      .argument('<path>', 'where to write the key file (its directory must exist)')
      .addOption(new Option('--type <type>', 'an age identity (X25519, or mlkem768x25519: post-quantum hybrid), or a v1 key file').choices(['X25519', 'mlkem768x25519', 'v1']).default('X25519'))
      .option('--passphrase-from-stdin', `protect the key with a passphrase read as one line from standard input (else ${PASSPHRASE_ENV}, if set)`),
  ).action(async (target: string, flags: KeygenFlags) => {
    const output = new CommandOutput(flags.json === true, context.streams);
    try {
      const passphrase = await readPassphrase({ fromStdin: flags.passphraseFromStdin === true, env: context.env, stdin: context.stdin, stderr: context.streams.stderr, prompt: 'New passphrase: ' });
      // Loaded here, not at the top: every other command would pay for the crypto graph (age, ML-KEM) at start.
      const { createNewKeyFile, publicFacts } = await loadCrypto();
      const created = await createNewKeyFile(target, { type: flags.type, ...(passphrase === undefined ? {} : { passphrase }) });
      const facts = publicFacts(created.key);
      output.result({ path: created.path, ...facts, passphraseProtected: passphrase !== undefined }, () => [
        `Created the ${facts.format === 'age' ? `age identity (${facts.keyType})` : 'v1 key'} file ${created.path} (key id ${facts.keyId}${passphrase === undefined ? '' : ', protected by a passphrase'}).`,
        ...(facts.card === undefined ? [] : [`Your public card (give it to others so they can encrypt to you): ${facts.card}`]),
        'Back it up: files encrypted with it cannot be decrypted without it.',
      ]);
    } catch (err) {
      process.exitCode = output.failure(err);
    }
  });
}
