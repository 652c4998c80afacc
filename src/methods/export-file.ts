/**
 * exportFile: a standalone age file for one recipient, written to a local
 * path, for someone who cannot reach the store (sent any way the user likes,
 * opened with `age -d` or cloudlocker). The header is rewrapped for that
 * recipient alone (src/users/share.ts); the payload is copied from the store
 * unchanged, into a 0600 temporary beside the target that is published only
 * when complete (never over an existing file unless overwrite).
 */
import type { ExportFile } from '../../protocol/index.js';
import { CARD_HRP, resolveRecipients } from '../crypto/age/index.js';
import { CloudlockerError, InvalidParamsError, fromSystemError } from '../errors.js';
import type { Storage } from '../storage/storage.js';
import { createTemporary, publishTemporary, removeQuietly, resolveDestination, sameFile, temporaryPathFor } from '../transfer/local-files.js';
import { randomUUID } from 'node:crypto';
import { exportHeaderFor } from '../users/share.js';
import type { MethodHandler } from './handler.js';
import { refusePlaintextInsideStore } from './local-store-paths.js';
import type { TransferEngine } from '../transfer/transfer-engine.js';
import { actingIdentity } from './share-file.js';
import type { UsersContext } from './users-context.js';

const COPY_BYTES = 4 * 1024 * 1024;

/**
 * Runs as a transfer (direction 'download', operation 'export'): progress
 * counts the stored bytes copied; a cancel before the publish leaves no
 * temporary. The temporary's path is recorded (context.pendingTemporaries)
 * before it is created, so a start after a crash removes it.
 */
export function createExportFileHandler(context: UsersContext, storage: Storage, engine: TransferEngine): MethodHandler<typeof ExportFile> {
  return async (params) =>
    engine.reserving('download', params.transferId, params.name, async (reservation) => {
      const { identity, authors, keyPath } = await actingIdentity(context, params, 'to export');
      let target = params.recipient;
      if (!target.startsWith(`${CARD_HRP}1`) && !target.startsWith('age1')) {
        const contact = await context.contacts.findByName(target);
        if (contact === undefined) throw new InvalidParamsError('recipient is neither a card, an age recipient nor a contact name.', 'recipient');
        target = contact.card;
      }
      let recipient;
      try {
        [, recipient] = resolveRecipients(identity, [target]);
      } catch (err) {
        if (err instanceof InvalidParamsError) throw new InvalidParamsError(err.message, 'recipient');
        throw err;
      }
      // resolveRecipients drops a recipient equal to the identity's own: export to yourself is allowed.
      recipient ??= identity.card.recipient;
      await refusePlaintextInsideStore(storage, params.destination, 'destination');
      const destination = await resolveDestination(params.destination, params.name, { overwrite: params.overwrite ?? false });
      // With overwrite: true an export onto the key file would destroy the only key that opens the user's files.
      if (await sameFile(destination, keyPath)) {
        throw new InvalidParamsError('destination is the key file itself: exporting onto it would destroy the key.', 'destination');
      }
      const { storedSize: totalBytes } = await storage.stat(params.name);
      return engine.operation({ operation: 'export', name: params.name, totalBytes, reservation }, async (control) => {
        const { signal } = control;
        const { header, payloadOffset, storedSize, version } = await exportHeaderFor(storage, params.name, identity, authors, recipient, signal);
        const tempPath = temporaryPathFor(destination, `export-${randomUUID()}`);
        const pending = context.pendingTemporaries;
        await pending?.track(reservation.transferId, tempPath);
        let published = false;
        let temp;
        try {
          temp = await createTemporary(tempPath);
          try {
            await temp.write(header);
            control.progress(payloadOffset);
            for (let at = payloadOffset; at < storedSize; at += COPY_BYTES) {
              signal.throwIfAborted();
              const bytes = await storage.readRange(params.name, at, Math.min(COPY_BYTES, storedSize - at), signal);
              await temp.write(bytes);
              control.progress(at + bytes.length);
            }
            await temp.sync();
          } catch (err) {
            if (signal.aborted) throw signal.reason;
            throw fromSystemError(err, 'the exported file');
          }
          await temp.close();
          if ((await storage.stat(params.name)).version !== version) {
            throw new CloudlockerError('SOURCE_CHANGED', 'The stored file was replaced while it was being exported; nothing was written. Try again.');
          }
          control.beginCommit();
          await publishTemporary(tempPath, destination, params.overwrite ?? false);
          published = true;
          return { transferId: reservation.transferId, name: params.name, path: destination, size: header.length + (storedSize - payloadOffset) };
        } finally {
          await temp?.close().catch(() => undefined);
          if (!published) await removeQuietly(tempPath);
          await pending?.forget(reservation.transferId).catch(() => undefined);
        }
      });
    }, 'export');
}
