/** `cloudlocker ls [PREFIX] [--folders | --tree]`: list stored files (every page), one folder level, or the tree under the prefix. */
import { Command } from 'commander';
import type { CloudlockerClient, FileEntry, FolderEntry } from '../../client/node.js';
import { addClientOptions, defaultContext, runWithClient, type ClientFlags, type CommandContext } from '../client-command.js';
import { UsageError } from '../exit-codes.js';
import { formatBytes } from '../human-readable.js';
import type { CommandOutput } from '../output.js';

interface LsFlags extends ClientFlags {
  folders?: boolean;
  tree?: boolean;
}

export function lsCommand(context: CommandContext = defaultContext()): Command {
  return addClientOptions(
    new Command('ls')
      .description('List stored files: size, date stored, name (with --json, one FileEntry per line).')
      .argument('[prefix]', 'only names that start with this')
      .option('--folders', 'folder view: the files directly under the prefix, and its sub-folders (ending in "/") with their file counts where the store gives them')
      .option('--tree', 'the whole tree under the prefix, folders indented with their file counts and sizes (reads the full listing)'),
  ).action(async (prefix: string | undefined, flags: LsFlags) => {
    await runWithClient(flags, context, async (client, output) => {
      if (flags.folders === true && flags.tree === true) throw new UsageError('Give --folders (one level) or --tree (every level), not both.');
      if (flags.tree === true) {
        printTree(output, await allFiles(client, prefix), prefix ?? '');
        return;
      }
      let cursor: string | null = null;
      do {
        const page: { files: FileEntry[]; folders?: FolderEntry[]; nextCursor: string | null } = await client.request('listFiles', {
          ...(prefix === undefined ? {} : { prefix }),
          ...(cursor === null ? {} : { cursor }),
          ...(flags.folders === true ? { delimiter: '/' as const } : {}),
        });
        // One byte order for files and folders, as the service pages them.
        const entries: Array<{ key: string; print: () => void }> = [
          ...page.files.map((file) => ({ key: file.name, print: () => printFile(output, file) })),
          ...(page.folders ?? []).map((folder) => ({
            key: folder.name,
            print: () =>
              output.result({ folder: folder.name, ...(folder.fileCount === undefined ? {} : { fileCount: folder.fileCount }) }, () =>
                `${(folder.fileCount === undefined ? 'folder' : `${folder.fileCount} files`).padStart(10)}  ${' '.repeat(20)}  ${folder.name}`,
              ),
          })),
        ];
        entries.sort((a, b) => byteOrder(a.key, b.key));
        for (const entry of entries) entry.print();
        cursor = page.nextCursor;
      } while (cursor !== null);
    });
  });
}

function printFile(output: CommandOutput, file: FileEntry, shownName = file.name): void {
  output.result(file, () => `${formatBytes(file.size).padStart(10)}  ${file.modifiedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}  ${shownName}`);
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

async function allFiles(client: CloudlockerClient, prefix: string | undefined): Promise<FileEntry[]> {
  const files: FileEntry[] = [];
  let cursor: string | null = null;
  do {
    const page: { files: FileEntry[]; nextCursor: string | null } = await client.request('listFiles', {
      ...(prefix === undefined ? {} : { prefix }),
      ...(cursor === null ? {} : { cursor }),
    });
    files.push(...page.files);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return files;
}

interface TreeFolder {
  readonly name: string;
  readonly folders: Map<string, TreeFolder>;
  readonly files: FileEntry[];
  fileCount: number;
  size: number;
}

/**
 * The tree under the prefix's last "/" (`ls --tree photos/` starts inside
 * photos/), depth first, each level in byte order with folders and files
 * mixed (as the service pages them). A folder's line comes before its
 * content: human output indents two spaces a level and shows the last name
 * segment; --json prints `{"folder","fileCount","size"}` for a folder (full
 * name, ending in "/"; counts over every level below) and the FileEntry for a
 * file, one per line, in the same order.
 */
function printTree(output: CommandOutput, files: readonly FileEntry[], prefix: string): void {
  const base = prefix.slice(0, prefix.lastIndexOf('/') + 1);
  const root: TreeFolder = { name: base, folders: new Map(), files: [], fileCount: 0, size: 0 };
  for (const file of files) {
    const segments = file.name.slice(base.length).split('/');
    let folder = root;
    folder.fileCount += 1;
    folder.size += file.size;
    for (const segment of segments.slice(0, -1)) {
      let child = folder.folders.get(segment);
      if (child === undefined) {
        child = { name: `${folder.name}${segment}/`, folders: new Map(), files: [], fileCount: 0, size: 0 };
        folder.folders.set(segment, child);
      }
      child.fileCount += 1;
      child.size += file.size;
      folder = child;
    }
    folder.files.push(file);
  }
  const visit = (folder: TreeFolder, depth: number) => {
    const indent = '  '.repeat(depth);
    const entries: Array<{ key: string; print: () => void }> = [
      ...folder.files.map((file) => ({ key: file.name, print: () => printFile(output, file, `${indent}${file.name.slice(folder.name.length)}`) })),
      ...[...folder.folders.values()].map((child) => ({
        key: child.name,
        print: () => {
          output.result({ folder: child.name, fileCount: child.fileCount, size: child.size }, () =>
            `${formatBytes(child.size).padStart(10)}  ${`${child.fileCount} ${child.fileCount === 1 ? 'file' : 'files'}`.padEnd(20)}  ${indent}${child.name.slice(folder.name.length)}`,
          );
          visit(child, depth + 1);
        },
      })),
    ];
    entries.sort((a, b) => byteOrder(a.key, b.key));
    for (const entry of entries) entry.print();
  };
  visit(root, 0);
}
