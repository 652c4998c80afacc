/** `cloudlocker rm [-r] NAME`: delete a stored file, or a folder with -r (the key files are not touched). */
import { Command } from 'commander';
import { addClientOptions, defaultContext, runWithClient, type ClientFlags, type CommandContext } from '../client-command.js';

interface RmFlags extends ClientFlags {
  recursive?: boolean;
}

export function rmCommand(context: CommandContext = defaultContext()): Command {
  return addClientOptions(
    new Command('rm')
      .description('Delete a stored file, or with -r a folder and everything in it.')
      .argument('<name>', 'remote name of the file (with -r: of the folder, a trailing "/" is allowed)')
      .option('-r, --recursive', 'delete the folder NAME/ and every file in it'),
  ).action(async (name: string, flags: RmFlags) => {
    await runWithClient(flags, context, async (client, output) => {
      if (flags.recursive === true) {
        const folder = name.replace(/\/+$/, '');
        const result = await client.request('deleteFile', { name: folder, recursive: true });
        output.result(result, () => `Deleted the folder ${result.name}/ (${result.deletedCount ?? 0} files).`);
        return;
      }
      const result = await client.request('deleteFile', { name });
      output.result(result, () => `Deleted ${result.name}.`);
    });
  });
}
