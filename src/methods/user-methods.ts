/** The users methods (issue 14), wired to one UsersContext. */
import type { USER_METHODS } from '../../protocol/index.js';
import { createAddContactHandler } from './add-contact.js';
import { createChangePassphraseHandler } from './change-passphrase.js';
import type { MethodHandlers } from './handler.js';
import { createListContactsHandler } from './list-contacts.js';
import { createLockHandler } from './lock.js';
import { createPublishIdentityHandler } from './publish-identity.js';
import { createRemoveContactHandler } from './remove-contact.js';
import { createSignInHandler } from './sign-in.js';
import { createUnlockHandler } from './unlock.js';
import { createShareFileHandler, createUnshareFileHandler } from './share-file.js';
import { createExportFileHandler } from './export-file.js';
import type { Storage } from '../storage/storage.js';
import type { TransferEngine } from '../transfer/transfer-engine.js';
import type { UsersContext } from './users-context.js';

export type UserMethodName = (typeof USER_METHODS)[number]['method'];
export type UserMethodHandlers = Pick<MethodHandlers, UserMethodName>;

/** `storage`: the store as the file methods see it (reserved names guarded), for sharing; `engine` runs share, unshare and export as transfers. */
export function createUserMethodHandlers(context: UsersContext, storage: Storage, engine: TransferEngine): UserMethodHandlers {
  return {
    unlock: createUnlockHandler(context),
    lock: createLockHandler(context),
    publishIdentity: createPublishIdentityHandler(context),
    signIn: createSignInHandler(context),
    changePassphrase: createChangePassphraseHandler(context),
    addContact: createAddContactHandler(context),
    listContacts: createListContactsHandler(context),
    removeContact: createRemoveContactHandler(context),
    shareFile: createShareFileHandler(context, storage, engine),
    unshareFile: createUnshareFileHandler(context, storage, engine),
    exportFile: createExportFileHandler(context, storage, engine),
  };
}
