import path from 'node:path';
import { EMPTY_FOLDER_MARKER, lastSegment, MAX_LIST_LIMIT, type DownloadFolder, type DownloadFolderResult } from '../../protocol/index.js';
import { keyFileCredentials, loadKeyFile, storedFormats, type Credentials } from '../crypto/index.js';
import { CloudlockerError, fromSystemError, InvalidParamsError, systemErrorCode } from '../errors.js';
import type { Storage } from '../storage/storage.js';
import { resumedGroup, type GroupResumer } from '../transfer/group-resume.js';
import { ensureFolder, isInsideDirectory, removeQuietly, temporaryPathFor } from '../transfer/local-files.js';
import type { GroupCheckpoints, ResumedGroup } from '../transfer/transfer-group.js';
import type { GroupParameters } from '../transfer/transfer-journal.js';
import type { TransferReservation } from '../transfer/transfer-requests.js';
import { listedPlaintextSize } from './list-files.js';
import type { TransferEngine } from '../transfer/transfer-engine.js';
import { runTransferGroup } from '../transfer/transfer-group.js';
import { lstat, mkdir, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import type { MethodHandler } from './handler.js';
import { trustedAuthors, unlockedKey, type KeySources } from './key-sources.js';
import { refusePlaintextInsideStore } from './local-store-paths.js';

/** One stored file of the folder and where it goes. */
interface FolderObject {
  readonly name: string;
  readonly relativePath: string;
  readonly target: string;
  readonly plaintextSize: number;
  /** As listed: a small object is read whole, header and body at once (TransferEngine.download). */
  readonly storedSize: number;
  readonly marker: boolean;
}

/**
 * `sources`: the unlocked identity (used when keyPath is left out, as download
 * does) and the contacts, whose files a folder download trusts as a single
 * download does (key-sources.ts).
 */
export function createDownloadFolderHandler(engine: TransferEngine, storage: Storage, sources?: KeySources): MethodHandler<typeof DownloadFolder> {
  return async (params) =>
    engine.reserving('download', params.transferId, params.name, async (reservation) => {
      await refusePlaintextInsideStore(storage, params.destination, 'destination');
      // Without keyPath: the unlocked identity (LOCKED when none, before any folder is created); an explicit keyPath wins.
      const unlocked = params.keyPath === undefined ? unlockedKey(sources, 'to download a folder') : undefined;
      const keyPath = unlocked?.path ?? path.resolve(params.keyPath!);
      const root = await folderRoot(params.destination, params.name, params.createDirectories === true);
      if (params.overwrite === true && (await isInsideDirectory(keyPath, root))) {
        throw new InvalidParamsError('The key file lies in the folder being replaced: downloading with overwrite could destroy it.', 'destination');
      }
      const objects = await listFolderObjects(storage, params.name, root);
      if (objects.length === 0) throw new CloudlockerError('NOT_FOUND', 'No stored file lies in that folder: check the name and try again.');
      const key = unlocked?.key ?? (await loadKeyFile(keyPath, params.keyPassphrase === undefined ? {} : { passphrase: params.keyPassphrase }));
      const trusted = await trustedAuthors(key, sources?.contacts);
      reservation.abortController.signal.throwIfAborted();
      try {
        await mkdir(root, { recursive: true });
      } catch (err) {
        throw fromSystemError(err, 'the destination folder');
      }
      const overwrite = params.overwrite ?? false;
      // Journaled by the key file's path (never the key or its passphrase): resumable after a restart.
      const checkpoints = await engine.journalGroup(reservation.transferId, {
        direction: 'download',
        name: params.name,
        totalBytes: totalOf(objects),
        parameters: {
          kind: 'downloadFolder',
          root,
          keyPath,
          // Public; journaled so that a resume may use the unlocked identity if it is this one.
          ...(key.format === 'age' ? { keyCardId: key.keyId } : {}),
          overwrite,
          filesTotal: objects.length,
        },
      });
      return runFolderDownload(engine, {
        reservation,
        name: params.name,
        root,
        objects,
        overwrite,
        credentialsFor: (name) => keyFileCredentials(key, { name, ...(trusted.authors === undefined ? {} : { authors: trusted.authors }) }),
        ...(checkpoints === undefined ? {} : { checkpoints }),
      });
    });
}

/** Header reads run at once to learn the plaintext sizes (age: the header's length varies), as listFiles does. */
const SIZE_READ_CONCURRENCY = 8;

/**
 * Every stored file under `<name>/` and where it goes under root. The store
 * is not trusted: a listed name that would leave root is INTEGRITY. Sizes
 * are plaintext sizes (from the stored size where the formats allow; age:
 * from each header), so the group's bytes done/total are right for every format.
 */
async function listFolderObjects(storage: Storage, name: string, root: string): Promise<FolderObject[]> {
  const prefix = `${name}/`;
  const listed: Array<{ name: string; storedSize: number }> = [];
  let cursor: string | undefined;
  do {
    const page = await storage.list({ prefix, limit: MAX_LIST_LIMIT, ...(cursor === undefined ? {} : { cursor }) });
    for (const object of page.objects) listed.push({ name: object.name, storedSize: object.storedSize });
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
  // Names first (the store is not trusted: nothing may land outside the folder), then the sizes.
  const placed = listed.map((object) => {
    const segments = object.name.slice(prefix.length).split('/');
    const marker = lastSegment(object.name) === EMPTY_FOLDER_MARKER;
    const relativePath = path.join(...(marker ? segments.slice(0, -1) : segments));
    const target = path.join(root, relativePath);
    const inside = path.relative(root, target);
    if (inside.startsWith('..') || path.isAbsolute(inside)) throw new CloudlockerError('INTEGRITY', 'The store listed a name that would leave the destination folder.');
    return { ...object, relativePath, target, marker };
  });
  // SIZE_READ_CONCURRENCY readers, each taking the next object as soon as its last read is done (not in
  // batches that wait for their slowest read); the first failure stops them all.
  const sizes = new Array<number>(placed.length).fill(0);
  let next = 0;
  let failed = false;
  const reader = async (): Promise<void> => {
    while (next < placed.length && !failed) {
      const index = next++;
      const object = placed[index]!;
      if (object.marker) continue;
      try {
        sizes[index] = await listedPlaintextSize(storage, storedFormats, object.name, object.storedSize);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(SIZE_READ_CONCURRENCY, placed.length) }, reader));
  const objects: FolderObject[] = placed.map((object, index) => ({
    name: object.name,
    relativePath: object.relativePath,
    target: object.target,
    plaintextSize: sizes[index] ?? 0,
    storedSize: object.storedSize,
    marker: object.marker,
  }));
  return objects;
}

function totalOf(objects: readonly FolderObject[]): number {
  return objects.reduce((sum, object) => sum + object.plaintextSize, 0);
}

interface FolderDownloadRequest {
  readonly reservation: TransferReservation;
  readonly name: string;
  readonly root: string;
  /** Every file of the folder (filesTotal). */
  readonly objects: readonly FolderObject[];
  readonly overwrite: boolean;
  readonly credentialsFor: (name: string) => Credentials;
  readonly checkpoints?: GroupCheckpoints;
  /** Resumed: the earlier runs' counts, the files still to save, and those a member saved just before the crash (saved again over). */
  readonly resume?: { readonly resumed: ResumedGroup; readonly pending: readonly FolderObject[]; readonly replaceOwn: ReadonlySet<string> };
}

function runFolderDownload(engine: TransferEngine, request: FolderDownloadRequest): Promise<DownloadFolderResult> {
  const { objects, resume, checkpoints } = request;
  const emptyFolders = objects.filter((object) => object.marker).length;
  const overwriteFor = (name: string) => request.overwrite || (resume?.replaceOwn.has(name) ?? false);
  // Per file, the group's lstat of its target (taken to journal whether it was there) is handed to its
  // download instead of a second one, and each folder is made once for all its files instead of looked
  // at per file: two thread-pool round trips fewer per file (docs/benchmarks.md, sf8).
  const looked = new Map<string, Stats | undefined>();
  const folders = new Map<string, Promise<void>>();
  const folderMade = (folder: string): Promise<void> => {
    let made = folders.get(folder);
    if (made === undefined) {
      made = mkdir(folder, { recursive: true }).then(
        () => undefined,
        (err: unknown) => {
          folders.delete(folder);
          throw fromSystemError(err, 'a folder of the destination');
        },
      );
      folders.set(folder, made);
    }
    return made;
  };
  return runTransferGroup(engine, {
    reservation: request.reservation,
    totalBytes: totalOf(objects),
    filesTotal: objects.length,
    items: resume?.pending ?? objects,
    ...(checkpoints === undefined ? {} : { checkpoints }),
    ...(resume === undefined ? {} : { resumed: resume.resumed }),
    // Whether the local file was there before: a resume then knows a file there now is this member's own.
    beforeItem: async (object) => {
      if (object.marker) return undefined;
      try {
        looked.set(object.name, await lstat(object.target));
        return true;
      } catch (err) {
        // Nothing there: what the download's own look would find. Any other answer it gets by itself.
        if (systemErrorCode(err) === 'ENOENT') looked.set(object.name, undefined);
        return false;
      }
    },
    sizeOf: (object) => object.plaintextSize,
    runItem: async (object, member, groupId, _signal, inGroupSlot) => {
      if (object.marker) {
        try {
          await mkdir(object.target, { recursive: true });
        } catch (err) {
          throw fromSystemError(err, 'a folder of the destination');
        }
        return 0;
      }
      await folderMade(path.dirname(object.target));
      // The group's look is a moment old only for a file that runs in its slot now; a larger one may have
      // waited in the transfer queue for minutes, and looks again itself.
      const seen = inGroupSlot && looked.has(object.name) ? { stats: looked.get(object.name) } : undefined;
      looked.delete(object.name);
      const result = await engine.download({
        reservation: member,
        name: object.name,
        destination: object.target,
        overwrite: overwriteFor(object.name),
        createDirectories: true,
        destinationFolderReady: true,
        ...(seen === undefined ? {} : { destinationLooked: seen }),
        credentials: request.credentialsFor(object.name),
        groupId,
        inGroupSlot,
        listedStoredSize: object.storedSize,
      });
      return result.size;
    },
    result: ({ filesDone, size, failed }) => ({
      transferId: request.reservation.transferId,
      name: request.name,
      path: request.root,
      filesTotal: objects.length,
      filesSaved: filesDone,
      size,
      emptyFolders,
      failed,
    }),
  });
}

/**
 * Resume an interrupted downloadFolder (group-resume.ts has the rules): list
 * the folder again, keep the files logged done whose local file still has
 * the logged size, remove the temporaries of members in flight at the
 * crash, and save the rest under the same group id.
 */
export function createDownloadFolderResumer(
  engine: TransferEngine,
  storage: Storage,
  sources?: KeySources,
): GroupResumer<Extract<GroupParameters, { kind: 'downloadFolder' }>> {
  return async (context, loadKey) => {
    const { parameters, summary, name } = context;
    const key = await loadKey();
    const trusted = await trustedAuthors(key, sources?.contacts);
    const objects = await listFolderObjects(storage, name, parameters.root);
    const kept: Array<{ size: number }> = [];
    const pending: FolderObject[] = [];
    const replaceOwn = new Set<string>();
    for (const object of objects) {
      if (summary.failed.has(object.name)) continue;
      const done = summary.done.get(object.name);
      if (done !== undefined) {
        const saved = await lstat(object.target).catch(() => undefined);
        const intact = object.marker ? saved?.isDirectory() === true : saved?.isFile() === true && saved.size === done.size;
        if (intact) kept.push({ size: done.size });
        else pending.push(object);
        continue;
      }
      const started = summary.inFlight.get(object.name);
      if (started !== undefined && !object.marker) {
        await removeQuietly(temporaryPathFor(object.target, started.memberId));
        // There now and not before its member started: renamed into place just before the crash.
        if (started.prior === false && (await lstat(object.target).then((stats) => stats.isFile(), () => false))) replaceOwn.add(object.name);
      }
      pending.push(object);
    }
    try {
      await mkdir(parameters.root, { recursive: true });
    } catch (err) {
      throw fromSystemError(err, 'the destination folder');
    }
    return runFolderDownload(engine, {
      reservation: context.reservation,
      name,
      root: parameters.root,
      objects,
      overwrite: parameters.overwrite,
      credentialsFor: (fileName) => keyFileCredentials(key, { name: fileName, ...(trusted.authors === undefined ? {} : { authors: trusted.authors }) }),
      checkpoints: context.checkpoints,
      resume: { resumed: resumedGroup(context, kept), pending, replaceOwn },
    });
  };
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
  await ensureFolder(parent, createDirectories, () => new InvalidParamsError('destination is not a folder: give the folder to save the tree in.', 'destination'));
  const root = path.join(parent, lastSegment(name));
  const rootStats = await lstat(root).catch(() => undefined);
  if (rootStats !== undefined && !rootStats.isDirectory()) {
    throw new InvalidParamsError('destination already holds something of the folder\'s name that is not a folder.', 'destination');
  }
  return root;
}
