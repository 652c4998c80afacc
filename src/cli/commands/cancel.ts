/** `cloudlocker cancel ID`: cancel a queued or running transfer. */
import { Command } from 'commander';
import { addClientOptions, defaultContext, runWithClient, type ClientFlags, type CommandContext } from '../client-command.js';

export function cancelCommand(context: CommandContext = defaultContext()): Command {
  return addClientOptions(new Command('cancel').description('Cancel a queued or running transfer.').argument('<transferId>', 'the id (see "cloudlocker transfers")')).action(
    async (transferId: string, flags: ClientFlags) => {
      await runWithClient(flags, context, async (client, output) => {
        const result = await client.request('cancelTransfer', { transferId });
        output.result(result, () => (result.cancelled ? `Cancelled ${result.transferId}.` : `${result.transferId} had already finished; nothing changed.`));
      });
    },
  );
}
