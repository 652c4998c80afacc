/**
 * `cloudlocker card KEYFILE [--passphrase-from-stdin]`: print the public card
 * of an age identity file (its recipient and public signing key in one
 * string), to give to others. It runs here, without the service, with the
 * identity loader the service uses; the secret is never printed.
 */
import { loadCrypto } from '../load-crypto.js';
import { Command } from 'commander';
import { CloudlockerError } from '../../errors.js';
import { addJsonOption, defaultContext, type CommandContext } from '../client-command.js';
import { CommandOutput } from '../output.js';
import { PASSPHRASE_ENV, readPassphrase } from '../secrets.js';

interface CardFlags {
  passphraseFromStdin?: boolean;
  json?: boolean;
}

export function cardCommand(context: CommandContext = defaultContext()): Command {
  return addJsonOption(
    new Command('card')
      .description("Print an age identity's public card and recipient (never its secret).")
      .argument('<keyfile>', 'an age identity file')
      .option('--passphrase-from-stdin', `read the identity's passphrase as one line from standard input (else ${PASSPHRASE_ENV}, if set)`),
  ).action(async (keyFile: string, flags: CardFlags) => {
    const output = new CommandOutput(flags.json === true, context.streams);
    try {
      const passphrase = await readPassphrase({ fromStdin: flags.passphraseFromStdin === true, env: context.env, stdin: context.stdin, stderr: context.streams.stderr, prompt: 'Passphrase: ' });
      // Loaded here, not at the top: every other command would pay for the crypto graph (age, ML-KEM) at start.
      const { loadKeyFile } = await loadCrypto();
      const key = await loadKeyFile(keyFile, passphrase === undefined ? {} : { passphrase });
      if (key.format !== 'age') {
        throw new CloudlockerError('KEY_INVALID', 'The key file could not be used: it is a v1 key file, which has no public card; create an age identity with "cloudlocker keygen".');
      }
      const result = { type: key.identity.type, recipient: key.card.recipientString, card: key.card.card, cardId: key.card.cardId };
      output.result(result, () => [result.card, `recipient: ${result.recipient}`, `card id:   ${result.cardId}`]);
    } catch (err) {
      process.exitCode = output.failure(err);
    }
  });
}
