/** `cloudlocker rm NAME`: delete a stored file (the key file is not touched). */
import { Command } from 'commander';
import { addClientOptions, defaultContext, runWithClient, type ClientFlags, type CommandContext } from '../client-command.js';

export function rmCommand(context: CommandContext = defaultContext()): Command {
  return addClientOptions(new Command('rm').description('Delete a stored file.').argument('<name>', 'remote name of the file')).action(
    async (name: string, flags: ClientFlags) => {
      await runWithClient(flags, context, async (client, output) => {
        const result = await client.request('deleteFile', { name });
        output.result(result, () => `Deleted ${result.name}.`);
      });
    },
  );
}
