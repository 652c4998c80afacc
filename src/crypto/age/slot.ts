/**
 * The header slot (docs/format.md, "Header slot"): a padding stanza
 *
 *   -> cloudlocker.dev/slot [<filler>]
 *   <body: zero bytes, canonical unpadded base64>
 *
 * written into the headers of large objects so that sharing can add
 * recipient stanzas and shrink the slot by as much, keeping the header's
 * length, and the local store can then replace the header in place instead
 * of copying the payload. age readers ignore stanzas of types they do not
 * know (C2SP age.md: an identity "MUST ignore any stanza that does not have"
 * its own type); the header MAC covers the slot like every stanza, so
 * changing it without the file key is refused (HEADER_MAC).
 *
 * The optional filler argument (1 to 3 '0' characters) exists only to reach
 * every length: base64 bodies come in lengths that skip some values.
 */
import { encodeHeader, encodeHeaderWithoutMac, type Stanza } from './header.js';
import type { RecipientType } from './stanzas.js';

export const SLOT_STANZA_TYPE = 'cloudlocker.dev/slot';
/** Objects of at least this many plaintext bytes get a slot (a 4 KiB file must not double). */
export const SLOT_MIN_PLAINTEXT = 1024 * 1024;
/**
 * Bytes the slot stanza takes in a new header: room for 16 more X25519
 * recipients (98 bytes each) or 3 more mlkem768x25519 ones (1 557 bytes
 * each), plus the smallest slot stanza that must remain.
 */
export const SLOT_RESERVE: Readonly<Record<RecipientType, number>> = {
  X25519: 16 * 98,
  mlkem768x25519: 3 * 1557,
};
const MIN_SLOT_STANZA_LENGTH = encodedLength(0, 0);
const MAX_FILLER = 3;

export function isSlotStanza(stanza: Stanza): boolean {
  return stanza.args[0] === SLOT_STANZA_TYPE;
}

/** Characters of canonical unpadded base64 for `bytes` bytes. */
function base64Chars(bytes: number): number {
  return Math.floor(bytes / 3) * 4 + [0, 2, 3][bytes % 3];
}

/** Length of the encoded slot stanza with a body of `bodyBytes` zero bytes and a filler of `filler` characters (0: none). */
function encodedLength(bodyBytes: number, filler: number): number {
  const chars = base64Chars(bodyBytes);
  // "-> TYPE[ FILLER]\n", then the body in 64-column lines, always ending with a shorter (maybe empty) line.
  return 3 + SLOT_STANZA_TYPE.length + (filler === 0 ? 0 : filler + 1) + 1 + chars + Math.floor(chars / 64) + 1;
}

function slotStanza(bodyBytes: number, filler: number): Stanza {
  return { args: filler === 0 ? [SLOT_STANZA_TYPE] : [SLOT_STANZA_TYPE, '0'.repeat(filler)], body: Buffer.alloc(bodyBytes) };
}

/**
 * A slot stanza whose encoding is exactly `length` bytes, or undefined when
 * none is (shorter than the smallest slot, 25 bytes, or 26, the one length
 * no body and filler give). Checked against the real encoder.
 */
export function slotStanzaOfLength(length: number): Stanza | undefined {
  if (!Number.isSafeInteger(length) || length < MIN_SLOT_STANZA_LENGTH) return undefined;
  // The encoded length grows by 0 to 2 per body byte: start near the answer and walk.
  let body = Math.max(0, Math.floor(((length - MIN_SLOT_STANZA_LENGTH) * 3 * 64) / (4 * 65)) - 8);
  for (; encodedLength(body, 0) <= length; body++) {
    for (let filler = 0; filler <= MAX_FILLER; filler++) {
      if (encodedLength(body, filler) === length) {
        const stanza = slotStanza(body, filler);
        if (encodedStanzaLength(stanza) !== length) throw new Error('slot stanza length arithmetic disagrees with the encoder');
        return stanza;
      }
    }
  }
  return undefined;
}

/** Bytes `stanza` takes in a header (what encodeHeaderWithoutMac writes for it). */
export function encodedStanzaLength(stanza: Stanza): number {
  return encodeHeaderWithoutMac([stanza]).length - encodeHeaderWithoutMac([]).length;
}

/** The slot a new object of `plaintextSize` bytes gets (undefined: none, a small object or size unknown). */
export function newSlotFor(type: RecipientType, plaintextSize: number | undefined): Stanza | undefined {
  if (plaintextSize === undefined || plaintextSize < SLOT_MIN_PLAINTEXT) return undefined;
  return slotStanzaOfLength(SLOT_RESERVE[type] + MIN_SLOT_STANZA_LENGTH);
}

/**
 * The stanzas of a shared header: `recipients`, then the slot, then
 * `trailer` (the author stanza), with the slot sized so that the header is
 * exactly `targetLength` bytes (its MAC line has a fixed length). Undefined
 * when the slot cannot absorb the change (exhausted, or none to shrink).
 */
export function stanzasOfLength(
  recipients: readonly Stanza[],
  trailer: readonly Stanza[],
  targetLength: number,
  macLineLength: number,
): Stanza[] | undefined {
  const without = encodeHeaderWithoutMac([...recipients, ...trailer]).length + macLineLength;
  const slot = slotStanzaOfLength(targetLength - without);
  return slot === undefined ? undefined : [...recipients, slot, ...trailer];
}

/** What follows "---" in every header: a space, the 43-character MAC, a newline. */
const MAC_LINE_TAIL = 1 + 43 + 1;

/**
 * The header of a shared file under `fileKey`: `recipients`, a slot, then
 * `trailer` (the author stanza). With `slotType` (the old header had a
 * slot), the slot is first sized so that the header keeps `oldLength`
 * bytes, which lets the store replace it in place; when the slot cannot
 * absorb the new stanzas the store copies the payload anyway, so the header
 * gets a fresh full slot for later shares. Without `slotType`, no slot (a
 * small object stays small).
 */
export function composeSharedHeader(
  recipients: readonly Stanza[],
  trailer: readonly Stanza[],
  fileKey: Uint8Array,
  oldLength: number,
  slotType: RecipientType | undefined,
): Buffer {
  if (slotType === undefined) return encodeHeader([...recipients, ...trailer], fileKey);
  const sameLength = stanzasOfLength(recipients, trailer, oldLength, MAC_LINE_TAIL);
  if (sameLength !== undefined) {
    const header = encodeHeader(sameLength, fileKey);
    if (header.length !== oldLength) throw new Error('a same-length shared header came out at another length');
    return header;
  }
  const fresh = slotStanzaOfLength(SLOT_RESERVE[slotType] + MIN_SLOT_STANZA_LENGTH);
  return encodeHeader([...recipients, ...(fresh === undefined ? [] : [fresh]), ...trailer], fileKey);
}
