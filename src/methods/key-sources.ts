/**
 * Where upload and download get their key when the request names none (the
 * unlocked identity), and whom a download trusts as an author (the key's own
 * card and every contact's), and how it names the author it verified.
 */
import type { DownloadResult } from '../../protocol/index.js';
import { authorKeyOf, type AuthorKey } from '../crypto/age/index.js';
import type { LoadedKey } from '../crypto/index.js';
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

export interface TrustedAuthors {
  /** The authors a download accepts: the key's own card first, then the contacts'. Undefined for a v1 key. */
  readonly authors: AuthorKey[] | undefined;
  /** How the result names a verified author. */
  readonly describe: (cardId: string) => NonNullable<DownloadResult['author']>;
}

export async function trustedAuthors(key: LoadedKey, contacts: ContactBook | undefined): Promise<TrustedAuthors> {
  if (key.format !== 'age') return { authors: undefined, describe: (cardId) => ({ kind: 'self', cardId }) };
  const own = key.card.cardId;
  const known = contacts === undefined ? [] : await contacts.list();
  const contactAuthors = contacts === undefined ? [] : await contacts.authorKeys();
  const names = new Map(known.map((contact) => [contact.cardId, contact.name]));
  return {
    authors: [authorKeyOf(key.card), ...contactAuthors.filter((author) => author.cardId !== own)],
    describe: (cardId) => {
      const name = names.get(cardId);
      if (cardId === own || name === undefined) return { kind: 'self', cardId };
      return { kind: 'contact', cardId, name };
    },
  };
}
