/** `cloudlocker ls [PREFIX] [--folders]`: list stored files (every page), or one folder level. */
import { Command } from 'commander';
import type { FileEntry, FolderEntry } from '../../client/node.js';
import { addClientOptions, defaultContext, runWithClient, type ClientFlags, type CommandContext } from '../client-command.js';
import { formatBytes } from '../human-readable.js';

interface LsFlags extends ClientFlags {
  folders?: boolean;
}

export function lsCommand(context: CommandContext = defaultContext()): Command {
  return addClientOptions(
    new Command('ls')
      .description('List stored files: size, date stored, name (with --json, one FileEntry per line).')
      .argument('[prefix]', 'only names that start with this')
      .option('--folders', 'folder view: the files directly under the prefix, and its sub-folders (ending in "/") with their file counts where the store gives them'),
  ).action(async (prefix: string | undefined, flags: LsFlags) => {
    await runWithClient(flags, context, async (client, output) => {
      let cursor: string | null = null;
      do {
        const page: { files: FileEntry[]; folders?: FolderEntry[]; nextCursor: string | null } = await client.request('listFiles', {
          ...(prefix === undefined ? {} : { prefix }),
          ...(cursor === null ? {} : { cursor }),
          ...(flags.folders === true ? { delimiter: '/' as const } : {}),
        });
        // One byte order for files and folders, as the service pages them.
        const entries: Array<{ key: string; print: () => void }> = [
          ...page.files.map((file) => ({
            key: file.name,
            print: () =>
              output.result(file, () => `${formatBytes(file.size).padStart(10)}  ${file.modifiedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}  ${file.name}`),
          })),
          ...(page.folders ?? []).map((folder) => ({
            key: folder.name,
            print: () =>
              output.result({ folder: folder.name, ...(folder.fileCount === undefined ? {} : { fileCount: folder.fileCount }) }, () =>
                `${(folder.fileCount === undefined ? 'folder' : `${folder.fileCount} files`).padStart(10)}  ${' '.repeat(20)}  ${folder.name}`,
              ),
          })),
        ];
        entries.sort((a, b) => Buffer.compare(Buffer.from(a.key, 'utf8'), Buffer.from(b.key, 'utf8')));
        for (const entry of entries) entry.print();
        cursor = page.nextCursor;
      } while (cursor !== null);
    });
  });
}
