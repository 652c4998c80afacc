/**
 * The header slot (docs/format.md "Header slot"): exact lengths, who gets a
 * slot, same-length shared headers, the MAC covering it, and plain age
 * readers (Debian's age 1.1.1, the age-encryption package) opening slotted
 * objects raw, before and after sharing.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Decrypter } from 'age-encryption';
import { AgeIdentity, openAgeBuffer, parseHeader, sealAgeBuffer, AUTHOR_STANZA_TYPE } from '../../../src/crypto/age/index.js';
import { unlockAgeHeader } from '../../../src/crypto/age/file.js';
import { wrapTo } from '../../../src/crypto/age/identity.js';
import { systemRandom } from '../../../src/crypto/random.js';
import {
  SLOT_MIN_PLAINTEXT,
  SLOT_STANZA_TYPE,
  composeSharedHeader,
  encodedStanzaLength,
  isSlotStanza,
  newSlotFor,
  slotStanzaOfLength,
  stanzasOfLength,
} from '../../../src/crypto/age/slot.js';
import { encodeHeaderWithoutMac, type Stanza } from '../../../src/crypto/age/header.js';
import { isAgeError } from '../../../src/crypto/age/errors.js';

const AGE = '/usr/bin/age';

/** What shareStoredFile does to a header (src/users/share.ts), without a store. */
async function share(file: Buffer, identity: AgeIdentity, add: AgeIdentity[]): Promise<Buffer> {
  const { fileKey, header } = await unlockAgeHeader(file, (stanzas) => identity.unwrap(stanzas));
  const recipients = header.stanzas.filter((s) => s.args[0] !== AUTHOR_STANZA_TYPE && !isSlotStanza(s));
  const author = header.stanzas.filter((s) => s.args[0] === AUTHOR_STANZA_TYPE);
  const added = add.map((other) => wrapTo(other.card.recipient, fileKey, systemRandom));
  const slotType = header.stanzas.some(isSlotStanza) ? identity.type : undefined;
  const newHeader = composeSharedHeader([...recipients, ...added], author, fileKey, header.length, slotType);
  return Buffer.concat([newHeader, file.subarray(header.length)]);
}

describe('header slot', () => {
  it('a slot stanza of every length from the smallest to 8 KiB, as the encoder writes it', () => {
    expect(slotStanzaOfLength(24)).toBeUndefined();
    // 26 is the one length no slot stanza has (a 1-character body or filler cannot be): the copy path takes it.
    expect(slotStanzaOfLength(26)).toBeUndefined();
    for (let length = 25; length <= 8192; length++) {
      if (length === 26) continue;
      const stanza = slotStanzaOfLength(length);
      expect(stanza).toBeDefined();
      expect(encodedStanzaLength(stanza!)).toBe(length);
      expect(stanza!.args[0]).toBe(SLOT_STANZA_TYPE);
    }
  });

  it('only objects of at least 1 MiB get a slot; its overhead is bounded', () => {
    for (const type of ['X25519', 'mlkem768x25519'] as const) {
      const identity = AgeIdentity.generate(type);
      const small = parseHeader(sealAgeBuffer(Buffer.alloc(10), { identity, name: 'a', plaintextSize: SLOT_MIN_PLAINTEXT - 1 }));
      const large = parseHeader(sealAgeBuffer(Buffer.alloc(10), { identity, name: 'a', plaintextSize: SLOT_MIN_PLAINTEXT }));
      const unknown = parseHeader(sealAgeBuffer(Buffer.alloc(10), { identity, name: 'a' }));
      expect(small.stanzas.some(isSlotStanza)).toBe(false);
      expect(unknown.stanzas.some(isSlotStanza)).toBe(false);
      expect(large.stanzas.map((s) => s.args[0])).toEqual([type, SLOT_STANZA_TYPE, AUTHOR_STANZA_TYPE]);
      // Below 0.5 % of the smallest slotted object.
      expect(large.length - small.length).toBeLessThan(SLOT_MIN_PLAINTEXT / 200);
    }
  });

  it('sharing keeps the header length while the slot lasts (16 X25519 recipients), then a longer header with a fresh slot', async () => {
    const owner = AgeIdentity.generate();
    const plain = randomBytes(3 * 65536 + 5);
    let file = sealAgeBuffer(plain, { identity: owner, name: 'f', plaintextSize: SLOT_MIN_PLAINTEXT });
    const length = parseHeader(file).length;
    const friends: AgeIdentity[] = [];
    for (let i = 0; i < 16; i++) {
      const friend = AgeIdentity.generate();
      friends.push(friend);
      file = await share(file, owner, [friend]);
      expect(parseHeader(file).length).toBe(length);
    }
    const last = AgeIdentity.generate();
    file = await share(file, owner, [last]);
    const grown = parseHeader(file);
    expect(grown.length).toBeGreaterThan(length);
    expect(grown.stanzas.filter(isSlotStanza)).toHaveLength(1);
    // Each recipient opens it, with the owner as the author.
    for (const reader of [owner, friends[0], friends[15], last]) {
      expect(openAgeBuffer(file, { identity: reader, name: 'f', authors: [{ cardId: owner.card.cardId, signingPublicKey: owner.card.signingPublicKey }] }).equals(plain)).toBe(true);
    }
  });

  it('a hybrid object has room for at least one more hybrid recipient at the same length', async () => {
    const owner = AgeIdentity.generate('mlkem768x25519');
    const friend = AgeIdentity.generate('mlkem768x25519');
    const file = sealAgeBuffer(randomBytes(1000), { identity: owner, name: 'pq', plaintextSize: SLOT_MIN_PLAINTEXT });
    const shared = await share(file, owner, [friend]);
    expect(parseHeader(shared).length).toBe(parseHeader(file).length);
    expect(openAgeBuffer(shared, { identity: friend, name: 'pq', authors: [{ cardId: owner.card.cardId, signingPublicKey: owner.card.signingPublicKey }] })).toHaveLength(1000);
  });

  it('the MAC covers the slot: a changed slot byte or a resized slot is refused (HEADER_MAC)', () => {
    const identity = AgeIdentity.generate();
    const file = sealAgeBuffer(randomBytes(100), { identity, name: 'm', plaintextSize: SLOT_MIN_PLAINTEXT });
    const text = file.toString('latin1');
    const at = text.indexOf(`-> ${SLOT_STANZA_TYPE}`);
    const bodyAt = text.indexOf('\n', at) + 1;
    const tampered = Buffer.from(file);
    tampered[bodyAt + 10] = 'B'.charCodeAt(0); // "AAAA" -> "AAAB...": another body, still canonical base64
    const shrunk = Buffer.concat([file.subarray(0, bodyAt), file.subarray(bodyAt + 65)]); // one body line less
    for (const bad of [tampered, shrunk]) {
      let caught: unknown;
      try {
        openAgeBuffer(bad, { identity, name: 'm' });
      } catch (err) {
        caught = err;
      }
      expect(isAgeError(caught) && caught.ageReason).toBe('HEADER_MAC');
    }
  });

  it("Debian's age -d and the age-encryption package open a slotted object raw, and after it was shared", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'slot-interop-'));
    try {
      const owner = AgeIdentity.generate();
      const friend = AgeIdentity.generate();
      const plain = randomBytes(200_000);
      const slotted = sealAgeBuffer(plain, { identity: owner, name: 'x', plaintextSize: plain.length + SLOT_MIN_PLAINTEXT });
      expect(parseHeader(slotted).stanzas.some(isSlotStanza)).toBe(true);
      const shared = await share(slotted, owner, [friend]);
      expect(parseHeader(shared).length).toBe(parseHeader(slotted).length);
      const cases: [Buffer, AgeIdentity][] = [
        [slotted, owner],
        [shared, owner],
        [shared, friend],
      ];
      for (const [index, [file, who]] of cases.entries()) {
        const keyFile = path.join(dir, `key-${index}.txt`);
        const rawFile = path.join(dir, `raw-${index}.age`);
        await writeFile(keyFile, `${who.encodeSecret()}\n`, { mode: 0o600 });
        await writeFile(rawFile, file);
        expect(execFileSync(AGE, ['-d', '-i', keyFile, rawFile], { maxBuffer: 1 << 22 }).equals(plain)).toBe(true);
        const decrypter = new Decrypter();
        decrypter.addIdentity(who.encodeSecret());
        expect(Buffer.from(await decrypter.decrypt(file)).equals(plain)).toBe(true);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('lengths that are not whole numbers, or not finite, have no slot stanza (and do not loop)', () => {
    for (const length of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 25.5, 100.25, -1, 0, 2 ** 53]) {
      expect(slotStanzaOfLength(length)).toBeUndefined();
    }
  });

  it("a slot's body is zero bytes and its filler at most three '0' characters; the smallest has neither", () => {
    for (let length = 25; length <= 400; length++) {
      const stanza = slotStanzaOfLength(length);
      if (stanza === undefined) continue;
      expect(stanza.body.every((byte) => byte === 0)).toBe(true);
      const filler = stanza.args[1] ?? '';
      expect(filler).toMatch(/^0{0,3}$/);
      expect(stanza.args).toHaveLength(filler === '' ? 1 : 2);
    }
    expect(slotStanzaOfLength(25)).toEqual({ args: [SLOT_STANZA_TYPE], body: Buffer.alloc(0) });
  });

  it('a new slot is the reserve for the identity type plus the smallest slot (16 X25519 or 3 hybrid recipients)', () => {
    const x = newSlotFor('X25519', SLOT_MIN_PLAINTEXT);
    const pq = newSlotFor('mlkem768x25519', 2 ** 40);
    expect(encodedStanzaLength(x!)).toBe(16 * 98 + 25);
    expect(encodedStanzaLength(pq!)).toBe(3 * 1557 + 25);
    expect(newSlotFor('X25519', SLOT_MIN_PLAINTEXT - 1)).toBeUndefined();
    expect(newSlotFor('mlkem768x25519', undefined)).toBeUndefined();
    expect(newSlotFor('X25519', 0)).toBeUndefined();
  });

  it('sharing an object without a slot adds none (a small object stays small); an exhausted slot is replaced by a full new one', async () => {
    const owner = AgeIdentity.generate();
    const friend = AgeIdentity.generate();
    const small = sealAgeBuffer(randomBytes(100), { identity: owner, name: 's' });
    const shared = await share(small, owner, [friend]);
    const header = parseHeader(shared);
    expect(header.stanzas.some(isSlotStanza)).toBe(false);
    expect(header.stanzas.map((s) => s.args[0])).toEqual(['X25519', 'X25519', AUTHOR_STANZA_TYPE]);
    expect(header.length).toBe(parseHeader(small).length + encodedStanzaLength(header.stanzas[1]));

    // 17 new recipients at once do not fit the slot: a longer header, with a full slot again.
    const large = sealAgeBuffer(randomBytes(100), { identity: owner, name: 'l', plaintextSize: SLOT_MIN_PLAINTEXT });
    const many = Array.from({ length: 17 }, () => AgeIdentity.generate());
    const grown = parseHeader(await share(large, owner, many));
    expect(grown.length).toBeGreaterThan(parseHeader(large).length);
    const slots = grown.stanzas.filter(isSlotStanza);
    expect(slots).toHaveLength(1);
    expect(encodedStanzaLength(slots[0])).toBe(16 * 98 + 25);
    expect(grown.stanzas.at(-1)?.args[0]).toBe(AUTHOR_STANZA_TYPE);
    expect(grown.stanzas.at(-2)).toBe(slots[0]);
  });

  it('a header that had no slot gets none, even when fewer stanzas would leave room for one at the old length', () => {
    const fileKey = randomBytes(16);
    const stanzas = [AgeIdentity.generate(), AgeIdentity.generate(), AgeIdentity.generate()].map((other) => wrapTo(other.card.recipient, fileKey, systemRandom));
    const old = composeSharedHeader(stanzas, [], fileKey, 0, undefined);
    const fewer = composeSharedHeader(stanzas.slice(0, 1), [], fileKey, old.length, undefined);
    const header = parseHeader(fewer);
    expect(header.stanzas.some(isSlotStanza)).toBe(false);
    expect(header.stanzas).toHaveLength(1);
    expect(fewer.length).toBe(old.length - encodedStanzaLength(stanzas[1]) - encodedStanzaLength(stanzas[2]));
  });

  it('stanzasOfLength: recipients, the slot, then the trailer, sized to the target; undefined when it cannot be', () => {
    const owner = AgeIdentity.generate();
    const recipients = [owner.wrap(Buffer.alloc(16, 1), systemRandom)];
    const trailer: Stanza[] = [{ args: ['trailer'], body: Buffer.alloc(5) }];
    const base = encodeHeaderWithoutMac([...recipients, ...trailer]).length + 45;
    const stanzas = stanzasOfLength(recipients, trailer, base + 500, 45)!;
    expect(stanzas.map((s) => s.args[0])).toEqual(['X25519', SLOT_STANZA_TYPE, 'trailer']);
    expect(encodeHeaderWithoutMac(stanzas).length + 45).toBe(base + 500);
    expect(stanzasOfLength(recipients, trailer, base + 24, 45)).toBeUndefined();
    expect(stanzasOfLength(recipients, trailer, base + 26, 45)).toBeUndefined();
    expect(stanzasOfLength(recipients, trailer, base + 25, 45)).toBeDefined();
  });
});
