/** `cloudlocker ls [PREFIX]`: list stored files (every page). */
import { Command } from 'commander';
import type { FileEntry } from '../../client/node.js';
import { addClientOptions, defaultContext, runWithClient, type ClientFlags, type CommandContext } from '../client-command.js';
import { formatBytes } from '../human-readable.js';

export function lsCommand(context: CommandContext = defaultContext()): Command {
  return addClientOptions(
    new Command('ls').description('List stored files: size, date stored, name (with --json, one FileEntry per line).').argument('[prefix]', 'only names that start with this'),
  ).action(async (prefix: string | undefined, flags: ClientFlags) => {
    await runWithClient(flags, context, async (client, output) => {
      let cursor: string | null = null;
      do {
        const page: { files: FileEntry[]; nextCursor: string | null } = await client.request('listFiles', {
          ...(prefix === undefined ? {} : { prefix }),
          ...(cursor === null ? {} : { cursor }),
        });
        for (const file of page.files) {
          output.result(file, () => `${formatBytes(file.size).padStart(10)}  ${file.modifiedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}  ${file.name}`);
        }
        cursor = page.nextCursor;
      } while (cursor !== null);
    });
  });
}
