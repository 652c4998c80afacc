/** `cloudlocker transfers`: current and recently finished transfers. */
import { Command } from 'commander';
import { addClientOptions, defaultContext, runWithClient, type ClientFlags, type CommandContext } from '../client-command.js';
import { percentDone } from '../progress-display.js';

export function transfersCommand(context: CommandContext = defaultContext()): Command {
  return addClientOptions(
    new Command('transfers').description('List current and recently finished transfers (with --json, one TransferStatus per line).'),
  ).action(async (flags: ClientFlags) => {
    await runWithClient(flags, context, async (client, output) => {
      const { transfers } = await client.request('listTransfers', {});
      for (const transfer of transfers) {
        output.result(transfer, () => {
          const error = transfer.error === undefined ? '' : `  (${transfer.error.message})`;
          return `${transfer.transferId}  ${transfer.direction.padEnd(8)}  ${transfer.state.padEnd(9)}  ${String(percentDone(transfer)).padStart(3)}%  ${transfer.name}${error}`;
        });
      }
      if (transfers.length === 0) output.note('No transfers are running or recently finished.');
    });
  });
}
