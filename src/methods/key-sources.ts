/**
 * Where upload and download get their key when the request names none (the
 * unlocked identity), and whom a download trusts as an author (the key's own
 * card and every contact's), and how it names the author it verified.
 */
import type { DownloadResult } from '../../protocol/index.js';
import { authorKeyOf, type AuthorKey } from '../crypto/age/index.js';
import type { LoadedKey } from '../crypto/index.js';
import { CloudlockerError } from '../errors.js';
import type { ContactBook } from '../users/contacts.js';
import type { IdentitySession } from '../users/identity-session.js';

export interface KeySources {
  readonly session?: IdentitySession;
  readonly contacts?: ContactBook;
}

/** The unlocked identity as a loaded key; LOCKED (saying `why`) when none is unlocked. */
export function unlockedKey(sources: KeySources | undefined, why: string): { key: LoadedKey; path: string } {
  if (sources?.session === undefined) {
    // A service built without the users methods: keyPath is required there.
    throw new Error(`keyPath is required ${why} on a service without unlock`);
  }
  const { identity, keyPath } = sources.session.use(why);
  return { key: { format: 'age', keyId: identity.card.cardId, identity, card: identity.card }, path: keyPath };
}

/**
 * The unlocked identity as a loaded key when it is the identity with card id
 * `cardId` (then it counts as a use, for the idle timer); undefined when none
 * is unlocked or another one is. For a resumed transfer (resume.ts).
 */
export function unlockedKeyIfSame(session: IdentitySession | undefined, cardId: string): LoadedKey | undefined {
  const held = session?.peek();
  if (session === undefined || held === undefined || held.identity.card.cardId !== cardId) return undefined;
  const { identity } = session.use('to resume a transfer');
  return { format: 'age', keyId: identity.card.cardId, identity, card: identity.card };
}

export interface TrustedAuthors {
  /** The authors a download accepts: the key's own card first, then the contacts'. Undefined for a v1 key. */
  readonly authors: AuthorKey[] | undefined;
  /** How the result names a verified author. */
  readonly describe: (cardId: string) => NonNullable<DownloadResult['author']>;
  /** Why no contact is trusted although there is a contact book (its file could not be read); undefined when it was read. */
  readonly contactsUnreadable?: CloudlockerError;
}

/**
 * One read of the contacts feeds both the trusted authors and their names. A
 * contacts file that cannot be read (damaged: CONTACTS_INVALID, or unreadable)
 * leaves only the user's own card trusted: the user's own files still
 * download, anyone else's are refused (AUTHOR_UNKNOWN) until it is repaired.
 */
export async function trustedAuthors(key: LoadedKey, contacts: ContactBook | undefined): Promise<TrustedAuthors> {
  if (key.format !== 'age') return { authors: undefined, describe: (cardId) => ({ kind: 'self', cardId }) };
  const own = key.card.cardId;
  let known: Awaited<ReturnType<ContactBook['trustedContacts']>> = [];
  let contactsUnreadable: CloudlockerError | undefined;
  if (contacts !== undefined) {
    try {
      known = await contacts.trustedContacts();
    } catch (err) {
      if (!(err instanceof CloudlockerError)) throw err;
      contactsUnreadable = err;
    }
  }
  const others = known.filter((contact) => contact.cardId !== own);
  const names = new Map(others.map((contact) => [contact.cardId, contact.name]));
  return {
    authors: [authorKeyOf(key.card), ...others.map((contact) => contact.author)],
    describe: (cardId) => {
      if (cardId === own) return { kind: 'self', cardId };
      // Only a trusted author is ever described, and `names` holds every one
      // but the user: without a name it is still never "self".
      const name = names.get(cardId);
      return name === undefined ? { kind: 'contact', cardId } : { kind: 'contact', cardId, name };
    },
    ...(contactsUnreadable === undefined ? {} : { contactsUnreadable }),
  };
}
