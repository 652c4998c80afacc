/**
 * JSON Schemas of the users methods (issue 14): unlock/lock, the identity
 * copy kept in the store (publishIdentity, signIn, changePassphrase) and
 * contacts. Kept apart from schemas.ts so that the file methods and these
 * can change without touching each other; same rules (plain `as const` data).
 */
import { localPathSchema, passphraseSchema, remoteNameSchema, transferIdSchema } from './schemas.js';

/** Longest card: a post-quantum card is 2 021 characters. */
export const MAX_CARD_LENGTH = 2100;
export const MAX_CONTACTS = 1000;

export const cardSchema = {
  type: 'string',
  minLength: 20,
  maxLength: MAX_CARD_LENGTH,
  pattern: '^cloudlockercard1[02-9ac-hj-np-z]+$',
  description: 'A public card (cloudlockercard1…): an age recipient and a signing key with a checksum. Shows no secret.',
} as const;

export const cardIdSchema = {
  type: 'string',
  pattern: '^[0-9a-f]{32}$',
  description: "A card's id: 32 lowercase hex digits, short enough to compare aloud when exchanging cards.",
} as const;

/**
 * A contact's name: 1-64 characters, letters (with combining marks) and digits of any script,
 * spaces (not at either end) and . _ ' -. Compared without regard to case.
 */
export const CONTACT_NAME_PATTERN = "^[\\p{L}\\p{N}](?:[\\p{L}\\p{M}\\p{N} ._'-]{0,62}[\\p{L}\\p{M}\\p{N}._'-])?$";
export const contactNameSchema = {
  type: 'string',
  minLength: 1,
  maxLength: 64,
  pattern: CONTACT_NAME_PATTERN,
  description: "Contact name: 1-64 letters, digits, spaces (not first or last), '.', '_', \"'\" and '-'. Unique without regard to case.",
} as const;

/** The user name an identity copy is kept under in the store: lower case so that no store folds two into one. */
export const USER_NAME_PATTERN = '^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$';
export const userNameSchema = {
  type: 'string',
  minLength: 1,
  maxLength: 64,
  pattern: USER_NAME_PATTERN,
  description: "User name of an identity copy in the store: 1-64 of a-z, 0-9, '.', '_', '-', starting and ending with a letter or digit.",
} as const;

const identityPassphraseSchema = {
  ...passphraseSchema,
  description: 'Passphrase of the identity copy in the store. Never logged, never stored, never echoed.',
} as const;

const noParams = { type: 'object', properties: {}, additionalProperties: false } as const;

/** What the service says about an identity: public facts only. */
const identityFacts = {
  card: cardSchema,
  cardId: cardIdSchema,
  recipient: { type: 'string', description: 'The age recipient (age1… or age1pq1…) files are encrypted to.' },
  keyPath: { type: 'string', description: 'Absolute path of the identity file it was read from.' },
} as const;

export const unlockParamsSchema = {
  type: 'object',
  properties: {
    keyPath: { ...localPathSchema, description: 'The identity file (age identity, possibly passphrase-protected) to unlock.' },
    keyPassphrase: passphraseSchema,
    idleTimeoutMs: {
      type: 'integer',
      minimum: 0,
      maximum: 7 * 24 * 3600 * 1000,
      description: 'Lock by itself after this long without a call that uses the identity; 0 or absent: only on lock or shutdown.',
    },
  },
  required: ['keyPath'],
  additionalProperties: false,
} as const;

export const unlockResultSchema = {
  type: 'object',
  properties: { unlocked: { const: true }, ...identityFacts },
  required: ['unlocked', 'card', 'cardId', 'recipient', 'keyPath'],
  additionalProperties: false,
} as const;

export const lockParamsSchema = noParams;

export const lockResultSchema = {
  type: 'object',
  properties: { wasUnlocked: { type: 'boolean', description: 'false when nothing was unlocked.' } },
  required: ['wasUnlocked'],
  additionalProperties: false,
} as const;

export const publishIdentityParamsSchema = {
  type: 'object',
  properties: {
    userName: userNameSchema,
    passphrase: identityPassphraseSchema,
    keyPath: {
      ...localPathSchema,
      description: 'The identity file to publish; default: the unlocked identity.',
    },
    keyPassphrase: passphraseSchema,
    overwrite: { type: 'boolean', default: false, description: 'Replace a copy already kept under this user name.' },
  },
  required: ['userName', 'passphrase'],
  additionalProperties: false,
} as const;

export const publishIdentityResultSchema = {
  type: 'object',
  properties: {
    userName: userNameSchema,
    cardId: cardIdSchema,
    scryptLogN: { type: 'integer', description: 'The scrypt work factor of the copy (log2 N).' },
  },
  required: ['userName', 'cardId', 'scryptLogN'],
  additionalProperties: false,
} as const;

export const signInParamsSchema = {
  type: 'object',
  properties: {
    userName: userNameSchema,
    passphrase: identityPassphraseSchema,
    keyPath: { ...localPathSchema, description: 'Where to write the identity file (0600); must not exist.' },
    protectKeyFile: {
      type: 'boolean',
      default: false,
      description: 'Write the identity file protected by the same passphrase (age scrypt, armored) instead of plain.',
    },
    cardId: { ...cardIdSchema, description: 'When given, sign-in succeeds only if the copy holds the identity of this card.' },
  },
  required: ['userName', 'passphrase', 'keyPath'],
  additionalProperties: false,
} as const;

export const signInResultSchema = {
  type: 'object',
  properties: { userName: userNameSchema, unlocked: { const: true }, ...identityFacts },
  required: ['userName', 'unlocked', 'card', 'cardId', 'recipient', 'keyPath'],
  additionalProperties: false,
} as const;

export const changePassphraseParamsSchema = {
  type: 'object',
  properties: {
    userName: userNameSchema,
    passphrase: { ...identityPassphraseSchema, description: 'The current passphrase of the copy. Never logged, never stored.' },
    newPassphrase: { ...identityPassphraseSchema, description: 'The new passphrase. Never logged, never stored.' },
  },
  required: ['userName', 'passphrase', 'newPassphrase'],
  additionalProperties: false,
} as const;

export const changePassphraseResultSchema = {
  type: 'object',
  properties: { userName: userNameSchema, cardId: cardIdSchema, changed: { const: true } },
  required: ['userName', 'cardId', 'changed'],
  additionalProperties: false,
} as const;

export const contactSchema = {
  type: 'object',
  properties: {
    name: contactNameSchema,
    card: cardSchema,
    cardId: cardIdSchema,
    addedAt: { type: 'string', format: 'date-time' },
  },
  required: ['name', 'card', 'cardId', 'addedAt'],
  additionalProperties: false,
} as const;

export const addContactParamsSchema = {
  type: 'object',
  properties: { name: contactNameSchema, card: cardSchema },
  required: ['name', 'card'],
  additionalProperties: false,
} as const;

export const addContactResultSchema = contactSchema;

export const listContactsParamsSchema = noParams;

export const listContactsResultSchema = {
  type: 'object',
  properties: { contacts: { type: 'array', items: contactSchema, description: 'Sorted by name.' } },
  required: ['contacts'],
  additionalProperties: false,
} as const;

export const removeContactParamsSchema = {
  type: 'object',
  properties: { name: contactNameSchema },
  required: ['name'],
  additionalProperties: false,
} as const;

export const removeContactResultSchema = {
  type: 'object',
  properties: { name: contactNameSchema, removed: { const: true } },
  required: ['name', 'removed'],
  additionalProperties: false,
} as const;

export const identityChangedParamsSchema = {
  type: 'object',
  properties: {
    unlocked: { type: 'boolean' },
    cause: { type: 'string', enum: ['unlock', 'signIn', 'lock', 'idle', 'shutdown'] },
    card: cardSchema,
    cardId: cardIdSchema,
    seq: {
      type: 'integer',
      minimum: 1,
      description:
        'Server-wide notification sequence number, the one transferProgress and transferFinished carry (listTransfers sinceSeq). Always sent by this server; optional so that a client also reads servers from before it was added.',
    },
  },
  required: ['unlocked', 'cause'],
  additionalProperties: false,
} as const;

// The results of shareFile, unshareFile and exportFile are in schemas.ts: a
// transfer's status and transferFinished carry them (they run as transfers).

const shareTargetSchema = {
  type: 'string',
  minLength: 1,
  maxLength: MAX_CARD_LENGTH,
  description: 'A contact name, a public card (cloudlockercard1…) or an age recipient (age1…, age1pq1…).',
} as const;

const identityChoice = {
  keyPath: { ...localPathSchema, description: 'The identity to act as; default: the unlocked identity.' },
  keyPassphrase: passphraseSchema,
  transferId: { ...transferIdSchema, description: 'Id of the transfer this runs as (progress, cancelTransfer, listTransfers); chosen by the server if left out.' },
} as const;

export const shareFileParamsSchema = {
  type: 'object',
  properties: {
    name: remoteNameSchema,
    with: { type: 'array', items: shareTargetSchema, minItems: 1, maxItems: 31, description: 'Who to add as recipients.' },
    ...identityChoice,
  },
  required: ['name', 'with'],
  additionalProperties: false,
} as const;

export const unshareFileParamsSchema = {
  type: 'object',
  properties: {
    name: remoteNameSchema,
    keep: {
      type: 'array',
      items: shareTargetSchema,
      maxItems: 31,
      default: [],
      description: 'Who keeps access besides you; everyone else loses it.',
    },
    ...identityChoice,
  },
  required: ['name'],
  additionalProperties: false,
} as const;

export const exportFileParamsSchema = {
  type: 'object',
  properties: {
    name: remoteNameSchema,
    recipient: { ...shareTargetSchema, description: 'Who the standalone file is for: a contact name, a card or an age recipient.' },
    destination: { ...localPathSchema, description: "An existing directory to save into under the name's last segment, or the target file path." },
    overwrite: { type: 'boolean', default: false },
    ...identityChoice,
  },
  required: ['name', 'recipient', 'destination'],
  additionalProperties: false,
} as const;

