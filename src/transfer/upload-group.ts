/**
 * A folder upload as one transfer group: one listed record with one id,
 * whose files run as ordinary uploads through the engine's queue, a few at a
 * time (as many as may run at once), so a folder of thousands of small files
 * is neither one RPC per file nor thousands of queued transfers (the group
 * counts once against maxQueuedTransfers). Cancelling the group cancels the
 * files in flight (each leaves nothing behind) and starts no more; files
 * already stored stay. A file that fails (changed while read, refused by the
 * store) is reported with its error and the others go on.
 *
 * Not (yet) journaled: a group stopped by a crash or shutdown does not
 * resume; its files stored so far stay, the rest must be uploaded again.
 */
import { randomUUID } from 'node:crypto';
import type { ErrorObject, TransferProgressParams, UploadFolderResult } from '../../protocol/index.js';
import type { EncryptionSpec, FormatRegistry } from '../crypto/index.js';
import { CloudlockerError, toErrorObject } from '../errors.js';
import type { Storage } from '../storage/storage.js';
import type { FolderContents, FolderFile } from './folder-walk.js';
import type { TransferEngine } from './transfer-engine.js';
import type { TransferReservation } from './transfer-requests.js';

export interface FolderUploadRequest {
  readonly reservation: TransferReservation;
  readonly name: string;
  readonly contents: FolderContents;
  readonly overwrite: boolean;
  readonly encryption: EncryptionSpec;
  readonly keyPath: string;
  readonly keyCreated: boolean;
}

export async function runFolderUpload(
  engine: TransferEngine,
  storage: Storage,
  formats: FormatRegistry,
  request: FolderUploadRequest,
): Promise<UploadFolderResult> {
  const { contents, reservation } = request;
  const registry = engine.registry;
  const group = engine.startGroup(reservation, contents.totalBytes, contents.files.length);
  const signal = group.signal;
  const keyId = formats.createSealer(request.encryption).keyId;
  const failed: Array<{ path: string; name: string; error: ErrorObject }> = [];
  let filesStored = 0;
  let size = 0;

  // The group's bytes are its files' bytes: follow their progress.
  const seen = new Map<string, { cryptoBytes: number; transferredBytes: number }>();
  const onProgress = (progress: TransferProgressParams): void => {
    if (progress.groupId !== group.transferId) return;
    const before = seen.get(progress.transferId) ?? { cryptoBytes: 0, transferredBytes: 0 };
    const cryptoBytes = Math.max(0, progress.cryptoBytes - before.cryptoBytes);
    const transferredBytes = Math.max(0, progress.transferredBytes - before.transferredBytes);
    seen.set(progress.transferId, { cryptoBytes: Math.max(before.cryptoBytes, progress.cryptoBytes), transferredBytes: Math.max(before.transferredBytes, progress.transferredBytes) });
    if (cryptoBytes > 0 || transferredBytes > 0) registry.addProgress(group, { cryptoBytes, transferredBytes });
    if (progress.state !== 'queued' && progress.state !== 'running') seen.delete(progress.transferId);
  };
  registry.on('transferProgress', onProgress);

  const uploadOne = async (file: FolderFile): Promise<void> => {
    registry.updateGroup(group, { fileStarted: file.name });
    const abortController = new AbortController();
    const forward = () => abortController.abort(signal.reason);
    signal.addEventListener('abort', forward, { once: true });
    try {
      if (file.source === undefined) {
        await writeEmptyMarker(storage, formats, request, file.name, signal);
      } else {
        const result = await engine.upload({
          reservation: { transferId: randomUUID(), direction: 'upload', name: file.name, abortController },
          source: file.source,
          name: file.name,
          overwrite: request.overwrite,
          encryption: request.encryption,
          keyPath: request.keyPath,
          keyCreated: request.keyCreated,
          groupId: group.transferId,
        });
        size += result.size;
      }
      filesStored += 1;
      registry.updateGroup(group, { fileDone: true });
    } catch (err) {
      if (signal.aborted) throw err;
      failed.push({ path: file.relativePath, name: file.name, error: toErrorObject(err) });
      registry.updateGroup(group, { fileDone: true, fileFailed: true });
    } finally {
      signal.removeEventListener('abort', forward);
    }
  };

  try {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < contents.files.length && !signal.aborted) {
        const file = contents.files[next] as FolderFile;
        next += 1;
        await uploadOne(file);
      }
    };
    // Every worker settles before the group answers: no file is still being written when it does.
    const settled = await Promise.allSettled(Array.from({ length: Math.max(1, Math.min(engine.concurrentTransfers, contents.files.length)) }, worker));
    signal.throwIfAborted();
    const rejected = settled.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    if (rejected !== undefined) throw rejected.reason;
    const result: UploadFolderResult = {
      transferId: group.transferId,
      name: request.name,
      filesTotal: contents.files.length,
      filesStored,
      size,
      emptyFolders: contents.emptyFolders,
      failed,
      skipped: contents.skipped.map((entry) => ({ path: entry.path, reason: entry.reason })),
      keyId,
      keyPath: request.keyPath,
      keyCreated: request.keyCreated,
    };
    registry.finish(group, 'completed', { result });
    return result;
  } catch (err) {
    const error = signal.aborted ? new CloudlockerError('CANCELLED', 'The folder upload was cancelled: the files stored before stay, none is partly stored.') : err;
    registry.finish(group, signal.aborted ? 'cancelled' : 'failed', { error: toErrorObject(error) });
    throw error;
  } finally {
    registry.off('transferProgress', onProgress);
  }
}

/** An empty folder's marker: the encrypted form of an empty file, written directly (no local file to read). */
async function writeEmptyMarker(storage: Storage, formats: FormatRegistry, request: FolderUploadRequest, name: string, signal: AbortSignal): Promise<void> {
  const sealer = formats.createSealer(request.encryption);
  const body = Buffer.concat([sealer.header, sealer.encryptChunk(0, new Uint8Array(0), true)]);
  const writer = await storage.beginWrite(name, { expectedSize: body.length, signal });
  try {
    await writer.writePart(0, 0, body);
    await writer.complete({ overwrite: request.overwrite });
  } catch (err) {
    await writer.abort().catch(() => undefined);
    throw err;
  }
}
