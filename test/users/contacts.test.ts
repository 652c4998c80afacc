import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AgeIdentity } from '../../src/crypto/age/index.js';
import { CloudlockerError, InvalidParamsError } from '../../src/errors.js';
import { ContactBook, contactNameProblem } from '../../src/users/contacts.js';

const alice = AgeIdentity.generate().card.card;
const bob = AgeIdentity.generate().card.card;
const hybrid = AgeIdentity.generate('mlkem768x25519').card.card;

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure');
}

describe('ContactBook', () => {
  let dir: string;
  let book: ContactBook;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cloudlocker-contacts-'));
    book = new ContactBook(dir, { now: () => new Date('2026-12-05T08:00:00Z') });
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('adds, lists sorted by name, finds by card id and removes', async () => {
    const added = await book.add('Zoë', alice);
    await book.add('bob', bob);
    await book.add('Quantum Carol', hybrid);
    expect(added).toEqual({ name: 'Zoë', card: alice, cardId: expect.stringMatching(/^[0-9a-f]{32}$/), addedAt: '2026-12-05T08:00:00.000Z' });
    expect((await book.list()).map((c) => c.name)).toEqual(['bob', 'Quantum Carol', 'Zoë']);
    expect((await book.findByCardId(added.cardId))?.name).toBe('Zoë');
    expect((await book.trustedContacts()).map((a) => a.author.cardId).sort()).toEqual((await book.list()).map((c) => c.cardId).sort());
    expect((await book.remove('ZOË')).name).toBe('Zoë');
    expect((await book.list()).map((c) => c.name)).toEqual(['bob', 'Quantum Carol']);
    // A fresh book reads the same file.
    expect((await new ContactBook(dir).list()).map((c) => c.name)).toEqual(['bob', 'Quantum Carol']);
  });

  it('keeps the file at mode 0600', async () => {
    await book.add('alice', alice);
    if (process.platform !== 'win32') expect((await stat(book.file)).mode & 0o777).toBe(0o600);
  });

  it('refuses a duplicate name in any case or normalisation, and a card already kept', async () => {
    await book.add('Zoë', alice);
    const sameName = await failure(book.add('ZOE\u0308', bob));
    expect(sameName).toBeInstanceOf(CloudlockerError);
    expect((sameName as CloudlockerError).reason).toBe('ALREADY_EXISTS');
    const sameCard = await failure(book.add('other', alice));
    expect((sameCard as CloudlockerError).reason).toBe('ALREADY_EXISTS');
    expect((sameCard as CloudlockerError).details).toMatchObject({ existingName: 'Zoë' });
    expect(await book.list()).toHaveLength(1);
  });

  it('refuses a card with a mistyped character, another case, a wrong prefix or not a card', async () => {
    const flipped = alice.slice(0, 30) + (alice[30] === 'q' ? 'p' : 'q') + alice.slice(31);
    for (const card of [flipped, alice.toUpperCase(), alice.replace('cloudlockercard1', 'cloudlockercarx1'), 'age1' + alice.slice(16), '']) {
      const err = await failure(book.add('x', card));
      expect(err).toBeInstanceOf(InvalidParamsError);
      expect((err as InvalidParamsError).param).toBe('card');
    }
    expect(await book.list()).toEqual([]);
  });

  it('refuses bad names', async () => {
    for (const name of ['', ' lead', 'trail ', 'a/b', 'tab\there', 'x'.repeat(65), '-dash-first', 'new\nline']) {
      expect(contactNameProblem(name)).toBeDefined();
      expect(await failure(book.add(name, alice))).toBeInstanceOf(InvalidParamsError);
    }
    for (const name of ['Ana María', "O'Brien", 'li.wei_2', '山田 太郎']) expect(contactNameProblem(name)).toBeUndefined();
  });

  it('NOT_FOUND for removing an unknown contact', async () => {
    const err = await failure(book.remove('nobody'));
    expect((err as CloudlockerError).reason).toBe('NOT_FOUND');
  });

  it('refuses a damaged file and never rewrites it', async () => {
    await book.add('alice', alice);
    const text = await readFile(book.file, 'utf8');
    const damagedVersions = [
      '{not json',
      JSON.stringify({ version: 2, contacts: [] }),
      text.replace(alice, alice.slice(0, -1) + (alice.endsWith('q') ? 'p' : 'q')),
      JSON.stringify({ version: 1, contacts: [{ name: 'a', card: alice, addedAt: '2026-01-01T00:00:00Z' }, { name: 'A', card: bob, addedAt: '2026-01-01T00:00:00Z' }] }),
      JSON.stringify({ version: 1, contacts: [{ name: 'a', card: alice, addedAt: '2026-01-01T00:00:00Z' }, { name: 'b', card: alice, addedAt: '2026-01-01T00:00:00Z' }] }),
      JSON.stringify({ version: 1, contacts: [{ name: 'a', card: alice, addedAt: '2026-01-01T00:00:00Z', secret: 1 }] }),
    ];
    for (const damaged of damagedVersions) {
      await writeFile(book.file, damaged);
      for (const attempt of [book.list(), book.add('carol', bob), book.remove('alice')]) {
        const err = await failure(attempt);
        expect((err as CloudlockerError).reason).toBe('CONTACTS_INVALID');
      }
      expect(await readFile(book.file, 'utf8')).toBe(damaged);
    }
  });

  it('serialises concurrent adds: none is lost', async () => {
    const cards = Array.from({ length: 12 }, () => AgeIdentity.generate().card.card);
    await Promise.all(cards.map((card, i) => book.add(`friend ${i}`, card)));
    expect(await book.list()).toHaveLength(12);
  });

});
