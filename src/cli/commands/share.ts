/** `cloudlocker share NAME WHO...`, `unshare NAME [--keep WHO...]`, `export NAME WHO DEST`: with the unlocked identity. */
import { Command } from 'commander';
import { addClientOptions, defaultContext, runWithClient, type ClientFlags, type CommandContext } from '../client-command.js';

export function shareCommand(context: CommandContext = defaultContext()): Command {
  return addClientOptions(
    new Command('share')
      .description('Give contacts (names) or cards access to a stored file; only its header is rewritten.')
      .argument('<name>', 'remote name of the file')
      .argument('<who...>', 'contact names or cards'),
  ).action(async (name: string, who: string[], flags: ClientFlags) => {
    await runWithClient(flags, context, async (client, output) => {
      const result = await client.request('shareFile', { name, with: who });
      output.result(result, () =>
        result.alreadyRecipients === undefined
          ? `Shared ${result.name}: ${result.recipientCount} recipients (${result.headerRewrite}).`
          : `Shared ${result.name}: ${result.recipientCount} recipients (${result.headerRewrite}); ${result.alreadyRecipients} already had access and ${result.alreadyRecipients === 1 ? 'was' : 'were'} not added again.`,
      );
    });
  });
}

export function unshareCommand(context: CommandContext = defaultContext()): Command {
  return addClientOptions(
    new Command('unshare')
      .description('Re-encrypt a file you wrote under a new key for you (and --keep) only.')
      .argument('<name>', 'remote name of the file')
      .option('--keep <who...>', 'contact names or cards who keep access'),
  ).action(async (name: string, flags: ClientFlags & { keep?: string[] }) => {
    await runWithClient(flags, context, async (client, output) => {
      const result = await client.request('unshareFile', { name, keep: flags.keep ?? [] });
      output.result(result, () => `Re-encrypted ${result.name} for ${result.recipientCount} recipient(s); a former recipient may still hold what they downloaded.`);
    });
  });
}

export function exportCommand(context: CommandContext = defaultContext()): Command {
  return addClientOptions(
    new Command('export')
      .description('Write a standalone age file of a stored file for one recipient (age -d opens it).')
      .argument('<name>', 'remote name of the file')
      .argument('<who>', 'a contact name or card')
      .argument('<destination>', 'file or directory to write')
      .option('--overwrite', 'replace an existing local file'),
  ).action(async (name: string, who: string, destination: string, flags: ClientFlags & { overwrite?: boolean }) => {
    await runWithClient(flags, context, async (client, output) => {
      const result = await client.request('exportFile', { name, recipient: who, destination, ...(flags.overwrite === true ? { overwrite: true } : {}) });
      output.result(result, () => `Wrote ${result.path}.`);
    });
  });
}
