/**
 * shareFile and unshareFile: who they act as (the unlocked identity or
 * keyPath), whom they name (contact names, cards, age recipients) and whose
 * files they accept (the identity's own and the contacts'); the work is
 * src/users/share.ts.
 */
import path from 'node:path';
import type { ShareFile, UnshareFile } from '../../protocol/index.js';
import { CARD_HRP, resolveRecipients, type AgeIdentity, type AuthorKey } from '../crypto/age/index.js';
import { keyInvalidError } from '../crypto/crypto-errors.js';
import { loadKeyFile, type LoadedKey } from '../crypto/index.js';
import { InvalidParamsError } from '../errors.js';
import type { Storage } from '../storage/storage.js';
import type { TransferEngine } from '../transfer/transfer-engine.js';
import { shareStoredFile, unshareStoredFile } from '../users/share.js';
import type { MethodHandler } from './handler.js';
import { trustedAuthors, unlockedKey, type KeySources } from './key-sources.js';
import type { UsersContext } from './users-context.js';

export async function actingIdentity(
  context: UsersContext,
  params: { keyPath?: string; keyPassphrase?: string },
  why: string,
): Promise<{ identity: AgeIdentity; authors: AuthorKey[]; keyPath: string }> {
  const sources: KeySources = { session: context.session, contacts: context.contacts };
  let key: LoadedKey;
  let keyPath: string;
  if (params.keyPath === undefined) {
    ({ key, path: keyPath } = unlockedKey(sources, why));
  } else {
    key = await loadKeyFile(params.keyPath, params.keyPassphrase === undefined ? {} : { passphrase: params.keyPassphrase });
    keyPath = path.resolve(params.keyPath);
  }
  if (key.format !== 'age') throw keyInvalidError('it is a v1 key file: only files of an age identity can be shared.');
  const { authors } = await trustedAuthors(key, context.contacts);
  return { identity: key.identity, authors: authors ?? [], keyPath };
}

/** Contact names become their cards; cards and age recipients pass as they are. */
async function targetsOf(context: UsersContext, entries: readonly string[], param: string): Promise<string[]> {
  const targets: string[] = [];
  for (const [index, entry] of entries.entries()) {
    if (entry.startsWith(`${CARD_HRP}1`) || entry.startsWith('age1')) {
      targets.push(entry);
      continue;
    }
    const contact = await context.contacts.findByName(entry);
    if (contact === undefined) {
      throw new InvalidParamsError(`${param}[${index}] is neither a card nor the name of a contact: add the contact first.`, `${param}[${index}]`);
    }
    targets.push(contact.card);
  }
  return targets;
}

/** The recipients as resolveRecipients checks them, with the param named as the caller gave it. */
function checkedRecipients(identity: AgeIdentity, targets: string[], param: string) {
  try {
    return resolveRecipients(identity, targets);
  } catch (err) {
    if (err instanceof InvalidParamsError && err.param !== undefined) {
      throw new InvalidParamsError(err.message, err.param.replace(/^recipients/, param));
    }
    throw err;
  }
}

/**
 * Both run as transfers (TransferEngine.operation): the transferId is
 * reserved before the first await, so a cancelTransfer right after the
 * request finds it; progress counts the stored bytes copied (share) or read
 * and re-encrypted (unshare).
 */
export function createShareFileHandler(context: UsersContext, storage: Storage, engine: TransferEngine): MethodHandler<typeof ShareFile> {
  return async (params) =>
    engine.reserving('upload', params.transferId, params.name, async (reservation) => {
      const { identity, authors } = await actingIdentity(context, params, 'to share');
      const resolved = checkedRecipients(identity, await targetsOf(context, params.with, 'with'), 'with');
      const { storedSize } = await storage.stat(params.name);
      return engine.operation({ operation: 'share', name: params.name, totalBytes: storedSize, reservation }, async (control) => {
        const outcome = await shareStoredFile({
          storage,
          name: params.name,
          identity,
          authors,
          add: resolved.slice(1),
          signal: control.signal,
          onProgress: async (done, total) => {
            control.progress(total === 0 ? storedSize : Math.floor((done / total) * storedSize));
            // rewriteHeader reports `total` last, right before it publishes: from here a cancel no longer counts.
            if (done >= total) control.beginCommit();
          },
        });
        return {
          transferId: reservation.transferId,
          name: params.name,
          recipientCount: outcome.recipientCount,
          storedSize: outcome.info.storedSize,
          headerRewrite: outcome.headerRewrite,
          ...(outcome.alreadyRecipients === 0 ? {} : { alreadyRecipients: outcome.alreadyRecipients }),
        };
      });
    }, 'share');
}

export function createUnshareFileHandler(context: UsersContext, storage: Storage, engine: TransferEngine): MethodHandler<typeof UnshareFile> {
  return async (params) =>
    engine.reserving('upload', params.transferId, params.name, async (reservation) => {
      const { identity, authors } = await actingIdentity(context, params, 'to unshare');
      const keep = await targetsOf(context, params.keep ?? [], 'keep');
      const resolved = checkedRecipients(identity, keep, 'keep');
      const { storedSize } = await storage.stat(params.name);
      return engine.operation({ operation: 'unshare', name: params.name, totalBytes: storedSize, reservation }, async (control) => {
        const info = await unshareStoredFile({
          storage,
          name: params.name,
          identity,
          authors,
          keep,
          signal: control.signal,
          onProgress: (done) => control.progress(done),
          beforePublish: () => control.beginCommit(),
        });
        return { transferId: reservation.transferId, name: params.name, recipientCount: resolved.length, storedSize: info.storedSize };
      });
    }, 'unshare');
}
