import { stat } from 'node:fs/promises';
import path from 'node:path';
import { remoteNameProblem, type UploadFolder } from '../../protocol/index.js';
import { keyFileEncryption, storedFormats } from '../crypto/index.js';
import { CloudlockerError, fromSystemError, InvalidParamsError, toErrorObject } from '../errors.js';
import type { Storage } from '../storage/storage.js';
import { walkFolder, type FolderFile } from '../transfer/folder-walk.js';
import { resumedGroup, type GroupResumer } from '../transfer/group-resume.js';
import type { ResumedGroup } from '../transfer/transfer-group.js';
import type { GroupParameters } from '../transfer/transfer-journal.js';
import { isInsideDirectory, refuseSpecialFile } from '../transfer/local-files.js';
import type { TransferEngine } from '../transfer/transfer-engine.js';
import { objectVersion, runFolderUpload, statOrNothing } from '../transfer/upload-group.js';
import type { MethodHandler } from './handler.js';
import { refuseKeyInsideStore } from './local-store-paths.js';
import { unlockedKey, type KeySources } from './key-sources.js';
import { resolveUploadKey, type ResolvedKey } from './resolve-upload-key.js';

/** `sources.session`: the unlocked identity, used when keyPath is left out (as upload does). */
export function createUploadFolderHandler(engine: TransferEngine, storage: Storage, sources?: KeySources): MethodHandler<typeof UploadFolder> {
  return async (params) =>
    // The id is reserved before the first await: a cancelTransfer right after this request must find it.
    engine.reserving('upload', params.transferId, params.name ?? path.basename(path.resolve(params.path)), async (reservation) => {
      const root = path.resolve(params.path);
      let rootStats;
      try {
        rootStats = await stat(root);
      } catch (err) {
        throw fromSystemError(err, 'the folder to upload');
      }
      if (!rootStats.isDirectory()) throw new InvalidParamsError('path is not a folder: use upload for a single file.', 'path');
      const name = params.name ?? path.basename(root);
      if (remoteNameProblem(name) !== undefined) throw new InvalidParamsError("The folder's name is not a valid remote name: pass name.", 'name');
      // Without keyPath: the unlocked identity (LOCKED when none); an explicit keyPath wins.
      const unlocked = params.keyPath === undefined ? unlockedKey(sources, 'to upload a folder') : undefined;
      if (params.keyPath !== undefined) {
        await refuseSpecialFile(params.keyPath, 'keyPath');
        await refuseKeyInsideStore(storage, params.keyPath, 'keyPath');
      }
      // The key file must not travel with the files it protects (the unlocked identity's file neither).
      if (unlocked !== undefined && (await isInsideDirectory(unlocked.path, root))) {
        throw new InvalidParamsError('The identity file that is unlocked lies inside the folder to upload: a key must not be stored with the files it protects.', 'path');
      }
      if (params.keyPath !== undefined && (await isInsideDirectory(params.keyPath, root))) {
        throw new InvalidParamsError('keyPath lies inside the folder to upload: a key must not be stored with the files it protects.', 'keyPath');
      }
      if (storage.kind === 'local' && (await isInsideDirectory(storage.location, root))) {
        throw new InvalidParamsError('path contains the local store itself: choose a folder outside it.', 'path');
      }
      const contents = await walkFolder(root, name);
      reservation.abortController.signal.throwIfAborted();
      const key: ResolvedKey =
        unlocked !== undefined
          ? { key: unlocked.key, path: unlocked.path, created: false }
          : await resolveUploadKey(params.keyPath!, name, params.keyPassphrase);
      const overwrite = params.overwrite ?? false;
      // Journaled by the key file's path (never the key or its passphrase): resumable after a restart.
      const checkpoints = await engine.journalGroup(reservation.transferId, {
        direction: 'upload',
        name,
        totalBytes: contents.totalBytes,
        parameters: {
          kind: 'uploadFolder',
          path: root,
          keyPath: key.path,
          // Public; journaled so that a resume may use the unlocked identity if it is this one.
          ...(key.key.format === 'age' ? { keyCardId: key.key.keyId } : {}),
          keyCreated: key.created,
          overwrite,
          filesTotal: contents.files.length,
        },
      });
      return runFolderUpload(engine, storage, storedFormats, {
        reservation,
        name,
        contents,
        overwrite,
        encryptionFor: (fileName) => keyFileEncryption(key.key, { name: fileName }),
        keyPath: key.path,
        keyCreated: key.created,
        ...(checkpoints === undefined ? {} : { checkpoints }),
      });
    });
}

/** Stats run at once when a resume checks the files logged as done. */
const CHECK_CONCURRENCY = 8;

/**
 * Resume an interrupted uploadFolder (group-resume.ts has the rules): walk
 * the folder again, keep the files logged done whose object still has its
 * logged version (a source changed since: SOURCE_CHANGED in `failed`), and
 * store the rest under the same group id.
 */
export function createUploadFolderResumer(engine: TransferEngine, storage: Storage): GroupResumer<Extract<GroupParameters, { kind: 'uploadFolder' }>> {
  return async (context, loadKey) => {
    const { parameters, summary, name } = context;
    // A key that needs a passphrase: KEY_INVALID before anything starts, so the group stays interrupted.
    const key = await loadKey();
    const contents = await walkFolder(parameters.path, name);
    const kept: Array<{ size: number }> = [];
    const pending: FolderFile[] = [];
    const replaceOwn = new Set<string>();
    const changed: ResumedGroup['failed'] = [];
    const check = async (file: FolderFile): Promise<void> => {
      if (summary.failed.has(file.name)) return;
      const done = summary.done.get(file.name);
      if (done !== undefined) {
        const info = await statOrNothing(storage, file.name);
        if (info !== undefined && (done.version === undefined || objectVersion(info) === done.version)) {
          const unchanged = file.source === undefined || (file.source.size === done.sourceSize && file.source.mtimeMs === done.sourceMtimeMs);
          if (unchanged) kept.push({ size: done.size });
          else changed.push({ path: file.relativePath, name: file.name, error: toErrorObject(new CloudlockerError('SOURCE_CHANGED', SOURCE_CHANGED_SINCE)) });
          return;
        }
        pending.push(file);
        return;
      }
      const started = summary.inFlight.get(file.name);
      if (started !== undefined && !parameters.overwrite) {
        // There now and absent when this group's member started: taken as stored by it just before the
        // crash (docs/protocol.md says so: another writer in that window cannot be told apart). An object
        // that was there before the member started is never ours, whatever its version now.
        const info = await statOrNothing(storage, file.name);
        if (info !== undefined && started.prior === null) replaceOwn.add(file.name);
      }
      pending.push(file);
    };
    for (let start = 0; start < contents.files.length; start += CHECK_CONCURRENCY) {
      await Promise.all(contents.files.slice(start, start + CHECK_CONCURRENCY).map(check));
    }
    // The walk's order, as a first run goes.
    const order = new Map(contents.files.map((file, index) => [file.name, index]));
    pending.sort((a, b) => order.get(a.name)! - order.get(b.name)!);
    return runFolderUpload(engine, storage, storedFormats, {
      reservation: context.reservation,
      name,
      contents,
      overwrite: parameters.overwrite,
      encryptionFor: (fileName) => keyFileEncryption(key, { name: fileName }),
      keyPath: parameters.keyPath,
      keyCreated: parameters.keyCreated,
      checkpoints: context.checkpoints,
      resume: { resumed: resumedGroup(context, kept, changed), pending, replaceOwn },
    });
  };
}

const SOURCE_CHANGED_SINCE =
  'The file changed after it was stored, before the server restarted: the stored copy is the earlier one; upload it again.';
