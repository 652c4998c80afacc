import path from 'node:path';
import { EMPTY_FOLDER_MARKER, lastSegment, MAX_LIST_LIMIT, type DownloadFolder } from '../../protocol/index.js';
import { keyFileCredentials, loadKeyFile, storedFormats } from '../crypto/index.js';
import { CloudlockerError, fromSystemError, InvalidParamsError } from '../errors.js';
import type { Storage } from '../storage/storage.js';
import { isInsideDirectory } from '../transfer/local-files.js';
import type { TransferEngine } from '../transfer/transfer-engine.js';
import { runTransferGroup } from '../transfer/transfer-group.js';
import { lstat, mkdir, stat } from 'node:fs/promises';
import type { MethodHandler } from './handler.js';
import { trustedAuthors, type KeySources } from './key-sources.js';
import { refusePlaintextInsideStore } from './local-store-paths.js';

/** One stored file of the folder and where it goes. */
interface FolderObject {
  readonly name: string;
  readonly relativePath: string;
  readonly target: string;
  readonly plaintextSize: number;
  readonly marker: boolean;
}

/** `sources`: the contacts, whose files a folder download trusts as a single download does (key-sources.ts). */
export function createDownloadFolderHandler(engine: TransferEngine, storage: Storage, sources?: KeySources): MethodHandler<typeof DownloadFolder> {
  return async (params) =>
    engine.reserving('download', params.transferId, params.name, async (reservation) => {
      await refusePlaintextInsideStore(storage, params.destination, 'destination');
      const root = await folderRoot(params.destination, params.name, params.createDirectories === true);
      if (params.overwrite === true && (await isInsideDirectory(params.keyPath, root))) {
        throw new InvalidParamsError('The key file lies in the folder being replaced: downloading with overwrite could destroy it.', 'destination');
      }
      const prefix = `${params.name}/`;
      const objects: FolderObject[] = [];
      let cursor: string | undefined;
      do {
        const page = await storage.list({ prefix, limit: MAX_LIST_LIMIT, ...(cursor === undefined ? {} : { cursor }) });
        for (const object of page.objects) {
          const segments = object.name.slice(prefix.length).split('/');
          const marker = lastSegment(object.name) === EMPTY_FOLDER_MARKER;
          const relativePath = path.join(...(marker ? segments.slice(0, -1) : segments));
          const target = path.join(root, relativePath);
          // Names are checked by the backends, but the store is not trusted: nothing lands outside the folder.
          const inside = path.relative(root, target);
          if (inside.startsWith('..') || path.isAbsolute(inside)) throw new CloudlockerError('INTEGRITY', 'The store listed a name that would leave the destination folder.');
          objects.push({
            name: object.name,
            relativePath,
            target,
            plaintextSize: storedFormats.plaintextSizeFromStoredSize(object.storedSize) ?? 0,
            marker,
          });
        }
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
      if (objects.length === 0) throw new CloudlockerError('NOT_FOUND', 'No stored file lies in that folder: check the name and try again.');
      const key = await loadKeyFile(params.keyPath, params.keyPassphrase === undefined ? {} : { passphrase: params.keyPassphrase });
      const trusted = await trustedAuthors(key, sources?.contacts);
      reservation.abortController.signal.throwIfAborted();
      try {
        await mkdir(root, { recursive: true });
      } catch (err) {
        throw fromSystemError(err, 'the destination folder');
      }
      const emptyFolders = objects.filter((object) => object.marker).length;
      return runTransferGroup(engine, {
        reservation,
        totalBytes: objects.reduce((sum, object) => sum + object.plaintextSize, 0),
        items: objects,
        runItem: async (object, member, groupId) => {
          if (object.marker) {
            try {
              await mkdir(object.target, { recursive: true });
            } catch (err) {
              throw fromSystemError(err, 'a folder of the destination');
            }
            return 0;
          }
          const result = await engine.download({
            reservation: member,
            name: object.name,
            destination: object.target,
            overwrite: params.overwrite ?? false,
            createDirectories: true,
            credentials: keyFileCredentials(key, { name: object.name, ...(trusted.authors === undefined ? {} : { authors: trusted.authors }) }),
            groupId,
          });
          return result.size;
        },
        result: ({ filesDone, size, failed }) => ({
          transferId: reservation.transferId,
          name: params.name,
          path: root,
          filesTotal: objects.length,
          filesSaved: filesDone,
          size,
          emptyFolders,
          failed,
        }),
      });
    });
}

/**
 * The folder the tree is recreated in: "<destination>/<last segment of name>",
 * whose parent, destination, must be an existing folder (or is created with
 * createDirectories), the same rule as a file's "into this folder". An
 * existing folder there is merged into (files already there are
 * ALREADY_EXISTS without overwrite); anything else there is refused.
 */
async function folderRoot(destination: string, name: string, createDirectories: boolean): Promise<string> {
  const parent = path.resolve(destination);
  const parentStats = await stat(parent).catch(() => undefined);
  if (parentStats === undefined && createDirectories) {
    try {
      await mkdir(parent, { recursive: true });
    } catch (err) {
      throw fromSystemError(err, 'the destination folder');
    }
  } else if (!parentStats?.isDirectory()) {
    if (parentStats !== undefined) throw new InvalidParamsError('destination is not a folder: give the folder to save the tree in.', 'destination');
    throw new CloudlockerError('NOT_FOUND', 'The destination folder does not exist: create it, pass createDirectories: true, or choose another destination.');
  }
  const root = path.join(parent, lastSegment(name));
  const rootStats = await lstat(root).catch(() => undefined);
  if (rootStats !== undefined && !rootStats.isDirectory()) {
    throw new InvalidParamsError('destination already holds something of the folder\'s name that is not a folder.', 'destination');
  }
  return root;
}
