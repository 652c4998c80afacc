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
      if (transfers.length === 0) {
        output.note('No transfers are running or recently finished.');
        return;
      }
      // Human output: a header, then one row per transfer with local start and finish times. --json: TransferStatus lines only.
      const idWidth = Math.max(2, ...transfers.map((transfer) => transfer.transferId.length));
      const row = (cells: { id: string; direction: string; state: string; percent: string; started: string; finished: string; name: string }) =>
        `${cells.id.padEnd(idWidth)}  ${cells.direction.padEnd(8)}  ${cells.state.padEnd(9)}  ${cells.percent.padStart(4)}  ${cells.started.padEnd(19)}  ${cells.finished.padEnd(19)}  ${cells.name}`;
      if (!output.json) output.streams.stdout.write(`${row({ id: 'ID', direction: 'DIRECTION', state: 'STATE', percent: 'DONE', started: 'STARTED', finished: 'FINISHED', name: 'NAME' })}\n`);
      for (const transfer of transfers) {
        output.result(transfer, () => {
          const error = transfer.error === undefined ? '' : `  (${transfer.error.message})`;
          return row({
            id: transfer.transferId,
            direction: transfer.direction,
            state: transfer.state,
            percent: `${percentDone(transfer)}%`,
            started: localTime(transfer.startedAt),
            finished: transfer.finishedAt === undefined ? '-' : localTime(transfer.finishedAt),
            name: `${transfer.name}${error}`,
          });
        });
      }
    });
  });
}

/** "2026-12-05 04:31:07" in the local time zone: what a person compares with their clock. */
export function localTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const two = (value: number) => String(value).padStart(2, '0');
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}
