/** `cloudlocker info NAME`: sizes, date, key id and format of a stored file (reads its header; needs no key). */
import { Command } from 'commander';
import { addClientOptions, defaultContext, runWithClient, type ClientFlags, type CommandContext } from '../client-command.js';
import { formatBytes } from '../human-readable.js';

export function infoCommand(context: CommandContext = defaultContext()): Command {
  return addClientOptions(
    new Command('info').description("A stored file's size, date, key id and format version.").argument('<name>', 'remote name of the file'),
  ).action(async (name: string, flags: ClientFlags) => {
    await runWithClient(flags, context, async (client, output) => {
      const info = await client.request('getFileInfo', { name });
      output.result(info, () => [
        `name:           ${info.name}`,
        `size:           ${formatBytes(info.size)} (${info.size} bytes)`,
        `stored size:    ${formatBytes(info.storedSize)} (${info.storedSize} bytes)`,
        `stored at:      ${info.modifiedAt}`,
        `format:         ${info.format} (version ${info.formatVersion})`,
        ...(info.format === 'age'
          ? [`author card id: ${info.authorCardId ?? 'none (an unauthored age file)'}`, `stanzas:        ${info.stanzaCount ?? '?'}`]
          : [`key id:         ${info.keyId ?? '?'}`]),
      ]);
    });
  });
}
