/** A folder upload as a transfer group (transfer-group.ts): its files' uploads, and empty folders' markers. */
import { EMPTY_FOLDER_MARKER, type UploadFolderResult } from '../../protocol/index.js';
import type { EncryptionSpec, FormatRegistry } from '../crypto/index.js';
import { isCloudlockerError } from '../errors.js';
import type { ObjectInfo, Storage } from '../storage/storage.js';
import type { FolderContents, FolderFile } from './folder-walk.js';
import type { TransferEngine } from './transfer-engine.js';
import { runTransferGroup, type GroupCheckpoints, type ResumedGroup } from './transfer-group.js';
import type { TransferReservation } from './transfer-requests.js';

export interface FolderUploadRequest {
  readonly reservation: TransferReservation;
  readonly name: string;
  readonly contents: FolderContents;
  readonly overwrite: boolean;
  /** What each file is sealed with: per name, since a format may bind the name (age's author stanza signs it). */
  readonly encryptionFor: (name: string) => EncryptionSpec;
  readonly keyPath: string;
  readonly keyCreated: boolean;
  /** Journaled (resumable after a restart). */
  readonly checkpoints?: GroupCheckpoints;
  /**
   * A resumed group: what its earlier runs finished, the files still to
   * store (`pending`, a subset of contents.files), and those a member of
   * this group stored just before the crash without logging it (`replaceOwn`:
   * stored again over its own object, whatever `overwrite` says).
   */
  readonly resume?: { readonly resumed: ResumedGroup; readonly pending: readonly FolderFile[]; readonly replaceOwn: ReadonlySet<string> };
}

/** An object's version as a group's log keeps it (a store without versions: its size and date). */
export function objectVersion(info: ObjectInfo): string {
  return info.version ?? `${info.storedSize}@${info.modifiedAt.getTime()}`;
}

/** The stored object of that name, or undefined when there is none. */
export async function statOrNothing(storage: Storage, name: string): Promise<ObjectInfo | undefined> {
  try {
    return await storage.stat(name);
  } catch (err) {
    if (isCloudlockerError(err, 'NOT_FOUND')) return undefined;
    throw err;
  }
}

export async function runFolderUpload(
  engine: TransferEngine,
  storage: Storage,
  formats: FormatRegistry,
  request: FolderUploadRequest,
): Promise<UploadFolderResult> {
  const { contents } = request;
  const keyId = formats.createSealer(request.encryptionFor(contents.files[0]?.name ?? `${request.name}/${EMPTY_FOLDER_MARKER}`)).keyId;
  const { checkpoints, resume } = request;
  const overwriteFor = (name: string) => request.overwrite || (resume?.replaceOwn.has(name) ?? false);
  // What proves a member done at a resume: the version the store gave it, and the source as it was read.
  // The local store's publish answers with the object's version (under the name's lock, right after the
  // rename): that is the proof, without a stat and a sidecar read per file. Elsewhere (S3: an ETag from a
  // HEAD may differ from what the publish reports), the proof is a stat of the stored object, as before.
  const proven = async (file: FolderFile, size: number, stored?: ObjectInfo) => {
    if (checkpoints === undefined) return size;
    const info = storage.kind === 'local' && stored?.version !== undefined ? stored : await statOrNothing(storage, file.name);
    return {
      size,
      proof: {
        ...(info === undefined ? {} : { version: objectVersion(info) }),
        ...(file.source === undefined ? {} : { sourceSize: file.source.size, sourceMtimeMs: file.source.mtimeMs }),
      },
    };
  };
  return runTransferGroup(engine, {
    reservation: request.reservation,
    totalBytes: contents.totalBytes,
    filesTotal: contents.files.length,
    items: resume?.pending ?? contents.files,
    ...(checkpoints === undefined ? {} : { checkpoints }),
    ...(resume === undefined ? {} : { resumed: resume.resumed }),
    // Without overwrite, the version there before (null: none), so that a resume can tell an object this member stored from one that was there.
    beforeItem: async (file) => (overwriteFor(file.name) ? undefined : (await statOrNothing(storage, file.name).then((info) => (info === undefined ? null : objectVersion(info))))),
    sizeOf: (file) => file.source?.size ?? 0,
    runItem: async (file, member, groupId, signal, inGroupSlot) => {
      if (file.source === undefined) {
        await writeEmptyMarker(storage, formats, request, file.name, overwriteFor(file.name), signal);
        return proven(file, 0);
      }
      let stored: ObjectInfo | undefined;
      const result = await engine.upload({
        reservation: member,
        source: file.source,
        name: file.name,
        overwrite: overwriteFor(file.name),
        encryption: request.encryptionFor(file.name),
        keyPath: request.keyPath,
        keyCreated: request.keyCreated,
        groupId,
        inGroupSlot,
        onStored: (info) => (stored = info),
      });
      return proven(file, result.size, stored);
    },
    result: ({ filesDone, size, failed }) => ({
      transferId: request.reservation.transferId,
      name: request.name,
      filesTotal: contents.files.length,
      filesStored: filesDone,
      size,
      emptyFolders: contents.emptyFolders,
      failed,
      skipped: contents.skipped.map((entry) => ({ path: entry.path, reason: entry.reason })),
      keyId,
      keyPath: request.keyPath,
      keyCreated: request.keyCreated,
    }),
  });
}

/** An empty folder's marker: the encrypted form of an empty file, written directly (no local file to read). */
async function writeEmptyMarker(
  storage: Storage,
  formats: FormatRegistry,
  request: FolderUploadRequest,
  name: string,
  overwrite: boolean,
  signal: AbortSignal,
): Promise<void> {
  const sealer = formats.createSealer(request.encryptionFor(name));
  const body = Buffer.concat([sealer.header, sealer.encryptChunk(0, new Uint8Array(0), true)]);
  const writer = await storage.beginWrite(name, { expectedSize: body.length, signal });
  try {
    await writer.writePart(0, 0, body);
    await writer.complete({ overwrite });
  } catch (err) {
    await writer.abort().catch(() => undefined);
    throw err;
  }
}
