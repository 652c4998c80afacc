/**
 * The contact book: named public cards, kept in `<dataDir>/contacts.json`
 * (mode 0600, replaced atomically). Cards are public, but the list says whom
 * the user deals with, so it is private like the rest of the data directory.
 *
 * Strict both ways: what is added is checked (name rule, card checksum and
 * type through the card parser, no second contact with the same name in
 * any case or the same card), and what is read back is checked the same way;
 * a damaged file is refused with CONTACTS_INVALID and never rewritten, so an
 * add or remove cannot drop the contacts it could not read.
 *
 * The file is re-read on every call (a user may edit it by hand while the
 * service runs); changes are serialised within the process, and one service
 * runs per data directory (server/instance-lock.ts).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { CONTACT_NAME_PATTERN, MAX_CONTACTS, type Contact } from '../../protocol/index.js';
import { authorKeyOf, parseCard, type AgeCard, type AuthorKey } from '../crypto/age/index.js';
import { AgeKeyFormatError } from '../crypto/age/identity.js';
import { CloudlockerError, InvalidParamsError, fromSystemError, systemErrorCode } from '../errors.js';
import { writeFileAtomic } from '../fs/atomic-file.js';

export const CONTACTS_FILE_NAME = 'contacts.json';
const FILE_VERSION = 1;
/** A file far larger than MAX_CONTACTS post-quantum cards is not ours. */
const MAX_FILE_BYTES = 8 * 1024 * 1024;
const namePattern = new RegExp(CONTACT_NAME_PATTERN, 'u');

/** How two names are compared: NFC, then case-folded, so "Zoë" and "ZOË" are one contact. */
export function contactNameKey(name: string): string {
  return name.normalize('NFC').toLowerCase();
}

/** Why `name` cannot be a contact name, or undefined. */
export function contactNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return 'must be a string';
  if (name.length === 0 || name.length > 64) return 'must be 1 to 64 characters';
  if (!namePattern.test(name)) {
    return "may hold only letters, digits, spaces (not first or last), '.', '_', \"'\" and '-', and must start with a letter or digit";
  }
  return undefined;
}

/** The card's parsed form, or InvalidParamsError('card') saying why it is not a card. */
export function parseContactCard(card: unknown, param = 'card'): AgeCard {
  try {
    if (typeof card !== 'string') throw new AgeKeyFormatError('it is not a string');
    return parseCard(card);
  } catch (err) {
    const why = err instanceof AgeKeyFormatError ? err.message : 'it cannot be decoded';
    throw new InvalidParamsError(`That is not a valid cloudlocker card: ${why}. Ask its owner to send it again.`, param);
  }
}

interface StoredContact {
  readonly name: string;
  readonly card: string;
  readonly addedAt: string;
}

function damaged(why: string): CloudlockerError {
  return new CloudlockerError(
    'CONTACTS_INVALID',
    `The contacts file (${CONTACTS_FILE_NAME} in the data directory) is damaged: ${why}. It was left as it is: repair or remove it.`,
  );
}

/** Checks one stored entry as strictly as addContact checks input. */
function checkStored(entry: unknown, index: number): Contact & { parsed: AgeCard } {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw damaged(`entry ${index} is not an object`);
  const { name, card, addedAt } = entry as Record<string, unknown>;
  const extra = Object.keys(entry).filter((key) => !['name', 'card', 'addedAt'].includes(key));
  if (extra.length > 0) throw damaged(`entry ${index} has unknown fields`);
  const nameProblem = contactNameProblem(name);
  if (nameProblem !== undefined) throw damaged(`the name of entry ${index} ${nameProblem}`);
  let parsed: AgeCard;
  try {
    parsed = parseCard(typeof card === 'string' ? card : '');
  } catch (err) {
    const why = err instanceof AgeKeyFormatError ? `: ${err.message}` : '';
    throw damaged(`the card of entry ${index} is not a valid card${why}`);
  }
  if (parsed.card !== card) throw damaged(`the card of entry ${index} is not in its canonical form`);
  if (typeof addedAt !== 'string' || Number.isNaN(Date.parse(addedAt))) throw damaged(`entry ${index} has no valid addedAt time`);
  return { name: name as string, card: parsed.card, cardId: parsed.cardId, addedAt, parsed };
}

export class ContactBook {
  readonly file: string;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly now: () => Date;

  constructor(dataDir: string, options: { now?: () => Date } = {}) {
    this.file = path.join(dataDir, CONTACTS_FILE_NAME);
    this.now = options.now ?? (() => new Date());
  }

  /** Every contact, sorted by name (case-insensitively). */
  async list(): Promise<Contact[]> {
    return (await this.load()).map(({ name, card, cardId, addedAt }) => ({ name, card, cardId, addedAt }));
  }

  /** The contact with this card id, if any. */
  async findByCardId(cardId: string): Promise<Contact | undefined> {
    return (await this.list()).find((contact) => contact.cardId === cardId);
  }

  /** The contact of this name (case-insensitive), if any. */
  async findByName(name: string): Promise<(Contact & { parsed: AgeCard }) | undefined> {
    const key = contactNameKey(name);
    return (await this.load()).find((contact) => contactNameKey(contact.name) === key);
  }

  /**
   * Every contact's name, card id and signing key from one read of the file,
   * so whom a download trusts and how it names them always agree.
   */
  async trustedContacts(): Promise<Array<{ name: string; cardId: string; author: AuthorKey }>> {
    return (await this.load()).map((contact) => ({ name: contact.name, cardId: contact.cardId, author: authorKeyOf(contact.parsed) }));
  }

  add(name: string, card: string): Promise<Contact> {
    return this.serialised(async () => {
      const nameProblem = contactNameProblem(name);
      if (nameProblem !== undefined) throw new InvalidParamsError(`The contact name ${nameProblem}.`, 'name');
      const parsed = parseContactCard(card);
      const contacts = await this.load();
      const key = contactNameKey(name);
      const sameName = contacts.find((c) => contactNameKey(c.name) === key);
      if (sameName !== undefined) {
        throw new CloudlockerError('ALREADY_EXISTS', `A contact named "${sameName.name}" already exists: remove it first or choose another name.`, {
          details: { existingName: sameName.name },
        });
      }
      const sameCard = contacts.find((c) => c.cardId === parsed.cardId);
      if (sameCard !== undefined) {
        throw new CloudlockerError('ALREADY_EXISTS', `That card already belongs to the contact "${sameCard.name}".`, {
          details: { existingName: sameCard.name, cardId: parsed.cardId },
        });
      }
      if (contacts.length >= MAX_CONTACTS) {
        throw new InvalidParamsError(`At most ${MAX_CONTACTS} contacts can be kept: remove some first.`, 'name');
      }
      const contact: Contact = { name, card: parsed.card, cardId: parsed.cardId, addedAt: this.now().toISOString() };
      await this.save([...contacts, contact]);
      return contact;
    });
  }

  remove(name: string): Promise<Contact> {
    return this.serialised(async () => {
      const contacts = await this.load();
      const key = contactNameKey(name);
      const found = contacts.find((c) => contactNameKey(c.name) === key);
      if (found === undefined) throw new CloudlockerError('NOT_FOUND', 'No contact has that name: listContacts shows them.');
      await this.save(contacts.filter((c) => c !== found));
      const { parsed: _parsed, ...contact } = found;
      return contact;
    });
  }

  private serialised<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work, work);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async load(): Promise<Array<Contact & { parsed: AgeCard }>> {
    let text: string;
    try {
      const bytes = await readFile(this.file);
      if (bytes.length > MAX_FILE_BYTES) throw damaged('it is far too large');
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch (err) {
      if (err instanceof CloudlockerError) throw err;
      if (err instanceof TypeError) throw damaged('it is not UTF-8 text');
      if (systemErrorCode(err) === 'ENOENT') return [];
      throw fromSystemError(err, 'the contacts file');
    }
    let document: unknown;
    try {
      document = JSON.parse(text);
    } catch {
      throw damaged('it is not valid JSON');
    }
    if (typeof document !== 'object' || document === null || (document as Record<string, unknown>).version !== FILE_VERSION) {
      throw damaged(`it is not a version ${FILE_VERSION} contacts file`);
    }
    const entries = (document as Record<string, unknown>).contacts;
    if (!Array.isArray(entries)) throw damaged('it has no contacts list');
    const contacts = entries.map(checkStored);
    const names = new Set<string>();
    const cards = new Set<string>();
    for (const contact of contacts) {
      if (names.has(contactNameKey(contact.name))) throw damaged(`the name "${contact.name}" appears twice`);
      if (cards.has(contact.cardId)) throw damaged(`one card appears twice`);
      names.add(contactNameKey(contact.name));
      cards.add(contact.cardId);
    }
    return contacts.sort((a, b) => (contactNameKey(a.name) < contactNameKey(b.name) ? -1 : 1));
  }

  private async save(contacts: readonly Contact[]): Promise<void> {
    const stored: StoredContact[] = contacts.map(({ name, card, addedAt }) => ({ name, card, addedAt }));
    const text = `${JSON.stringify({ version: FILE_VERSION, contacts: stored }, null, 2)}\n`;
    try {
      await writeFileAtomic(this.file, text, 0o600);
    } catch (err) {
      throw fromSystemError(err, 'the contacts file');
    }
  }
}
