/**
 * trustedAuthors (src/methods/key-sources.ts): whom a download trusts and how
 * it names them come from one read of the contacts, a verified author is
 * "self" only when it is the user's own card, and an unreadable contacts file
 * leaves the user's own files readable and nobody else trusted.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AgeIdentity, authorKeyOf } from '../../src/crypto/age/index.js';
import type { LoadedKey } from '../../src/crypto/index.js';
import { trustedAuthors } from '../../src/methods/key-sources.js';
import { ContactBook, CONTACTS_FILE_NAME } from '../../src/users/contacts.js';

const me = AgeIdentity.generate();
const bob = AgeIdentity.generate();
const myKey: LoadedKey = { format: 'age', keyId: me.card.cardId, identity: me, card: me.card };
const bobContact = { name: 'Bob', card: bob.card.card, cardId: bob.card.cardId, addedAt: '2026-12-05T08:00:00.000Z', parsed: bob.card };

/**
 * A contact book whose file changes between reads: each read of it, whichever
 * method makes it, sees the next state (then the last one for ever).
 */
function changingBook(states: Array<Array<typeof bobContact>>): ContactBook {
  let reads = 0;
  const read = () => states[Math.min(reads++, states.length - 1)] ?? [];
  const stub = {
    list: async () => read().map(({ name, card, cardId, addedAt }) => ({ name, card, cardId, addedAt })),
    authorKeys: async () => read().map((contact) => authorKeyOf(contact.parsed)),
    trustedContacts: async () => read().map((contact) => ({ name: contact.name, cardId: contact.cardId, author: authorKeyOf(contact.parsed) })),
  };
  return stub as unknown as ContactBook;
}

describe('trustedAuthors', () => {
  it.each([
    ['added', [[], [bobContact]]],
    ['removed', [[bobContact], []]],
  ] as const)('a contact %s between reads is either trusted and named, or not trusted; never reported as "self"', async (_, states) => {
    const trusted = await trustedAuthors(myKey, changingBook(states.map((state) => [...state])));
    expect(trusted.authors?.[0]?.cardId).toBe(me.card.cardId);
    for (const author of trusted.authors!.slice(1)) {
      expect(trusted.describe(author.cardId)).toEqual({ kind: 'contact', cardId: author.cardId, name: 'Bob' });
    }
    expect(trusted.describe(bob.card.cardId).kind).toBe('contact');
    expect(trusted.describe(me.card.cardId)).toEqual({ kind: 'self', cardId: me.card.cardId });
  });

  it('an id missing from the contacts is never described as "self"', async () => {
    const trusted = await trustedAuthors(myKey, changingBook([[]]));
    expect(trusted.describe('0123456789abcdef0123456789abcdef')).toEqual({ kind: 'contact', cardId: '0123456789abcdef0123456789abcdef' });
  });

  describe('with a damaged contacts file', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'cloudlocker-key-sources-'));
    });
    afterEach(() => rm(dir, { recursive: true, force: true }));

    it("trusts only the user's own card (their files still open; nobody else's) and says why", async () => {
      const book = new ContactBook(dir);
      await book.add('Bob', bob.card.card);
      await writeFile(path.join(dir, CONTACTS_FILE_NAME), '{ "version": 1, "contacts": [ truncated');
      const trusted = await trustedAuthors(myKey, book);
      expect(trusted.authors?.map((author) => author.cardId)).toEqual([me.card.cardId]);
      expect(trusted.contactsUnreadable).toMatchObject({ reason: 'CONTACTS_INVALID' });
      expect(trusted.describe(me.card.cardId)).toEqual({ kind: 'self', cardId: me.card.cardId });
    });
  });
});
