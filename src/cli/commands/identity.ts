/**
 * `cloudlocker unlock KEYFILE`, `lock`, `whoami`, `signin USER KEYFILE`,
 * `publish USER`: the unlocked identity and its copy in the store.
 * Passphrases come from a terminal prompt or one line of standard input
 * (--…-from-stdin), never from the command line.
 */
import { Command } from 'commander';
import { addClientOptions, defaultContext, runWithClient, type ClientFlags, type CommandContext } from '../client-command.js';
import { withPassphrasePrompt } from '../passphrase-prompt.js';
import { readPassphrase } from '../secrets.js';

interface PassphraseFlags extends ClientFlags {
  passphraseFromStdin?: boolean;
  idleTimeout?: string;
  protectKeyFile?: boolean;
  cardId?: string;
  overwrite?: boolean;
}

function ask(context: CommandContext, flags: PassphraseFlags, prompt: string): Promise<string | undefined> {
  // On a terminal the prompt is shown whether or not the flag was given.
  const fromStdin = flags.passphraseFromStdin === true || context.stdin.isTTY === true;
  return readPassphrase({ fromStdin, env: context.env, stdin: context.stdin, stderr: context.streams.stderr, prompt });
}

export function unlockCommand(context: CommandContext = defaultContext()): Command {
  return addClientOptions(
    new Command('unlock')
      .description('Unlock an age identity in the service: upload, download and share then need no key file.')
      .argument('<key-file>', 'the identity file')
      .option('--passphrase-from-stdin', "read the identity file's passphrase as one line from standard input")
      .option('--idle-timeout <minutes>', 'lock by itself after this many minutes without use'),
  ).action(async (keyPath: string, flags: PassphraseFlags) => {
    await runWithClient(flags, context, async (client, output) => {
      const given = flags.passphraseFromStdin === true ? await ask(context, flags, 'Key passphrase: ') : undefined;
      const idleTimeoutMs = flags.idleTimeout === undefined ? undefined : Math.round(Number(flags.idleTimeout) * 60_000);
      // A protected identity asked for on a terminal, as upload and download do.
      const result = await withPassphrasePrompt(given, { stdin: context.stdin, stderr: context.streams.stderr }, (keyPassphrase) =>
        client.request('unlock', {
          keyPath,
          ...(keyPassphrase === undefined ? {} : { keyPassphrase }),
          ...(idleTimeoutMs === undefined || !Number.isFinite(idleTimeoutMs) ? {} : { idleTimeoutMs }),
        }),
      );
      output.result(result, () => [`Unlocked ${result.keyPath}.`, `card id: ${result.cardId}`]);
    });
  });
}

export function lockCommand(context: CommandContext = defaultContext()): Command {
  return addClientOptions(new Command('lock').description('Forget the unlocked identity.')).action(async (flags: ClientFlags) => {
    await runWithClient(flags, context, async (client, output) => {
      const result = await client.request('lock', {});
      output.result(result, () => (result.wasUnlocked ? 'Locked.' : 'Nothing was unlocked.'));
    });
  });
}

export function whoamiCommand(context: CommandContext = defaultContext()): Command {
  return addClientOptions(new Command('whoami').description('The unlocked identity: its card (to give to others) and card id.')).action(
    async (flags: ClientFlags) => {
      await runWithClient(flags, context, async (client, output) => {
        const result = await client.request('getIdentity', {});
        output.result(result, () => [`identity: ${result.keyPath}`, `card id:  ${result.cardId}`, `card:     ${result.card}`]);
      });
    },
  );
}

export function publishCommand(context: CommandContext = defaultContext()): Command {
  return addClientOptions(
    new Command('publish')
      .description('Keep a passphrase-protected copy of the unlocked identity in the store, for signing in on other devices.')
      .argument('<user-name>', 'the user name to keep it under')
      .option('--passphrase-from-stdin', 'read the new passphrase as one line from standard input')
      .option('--overwrite', 'replace a copy kept under that user name'),
  ).action(async (userName: string, flags: PassphraseFlags) => {
    await runWithClient(flags, context, async (client, output) => {
      const passphrase = await ask(context, flags, 'Passphrase for the copy in the store: ');
      if (passphrase === undefined) throw new Error('A passphrase is needed: give it on standard input (--passphrase-from-stdin) or at the prompt.');
      const result = await client.request('publishIdentity', { userName, passphrase, ...(flags.overwrite === true ? { overwrite: true } : {}) });
      output.result(result, () => `Kept the identity (card id ${result.cardId}) in the store for ${result.userName}.`);
    });
  });
}

export function signinCommand(context: CommandContext = defaultContext()): Command {
  return addClientOptions(
    new Command('signin')
      .description("Sign in on this device: fetch the user's identity copy from the store, write it to KEY-FILE and unlock it.")
      .argument('<user-name>', 'the user name it was published under')
      .argument('<key-file>', 'where to write the identity file (must not exist)')
      .option('--passphrase-from-stdin', 'read the passphrase as one line from standard input')
      .option('--protect-key-file', 'write the identity file protected by the same passphrase')
      .option('--card-id <id>', 'sign in only if the copy holds this card'),
  ).action(async (userName: string, keyPath: string, flags: PassphraseFlags) => {
    await runWithClient(flags, context, async (client, output) => {
      const passphrase = await ask(context, flags, 'Passphrase: ');
      if (passphrase === undefined) throw new Error('A passphrase is needed: give it on standard input (--passphrase-from-stdin) or at the prompt.');
      const result = await client.request('signIn', {
        userName,
        passphrase,
        keyPath,
        ...(flags.protectKeyFile === true ? { protectKeyFile: true } : {}),
        ...(flags.cardId === undefined ? {} : { cardId: flags.cardId }),
      });
      output.result(result, () => [`Signed in as ${result.userName}; wrote ${result.keyPath} (back it up).`, `card id: ${result.cardId}`]);
    });
  });
}
