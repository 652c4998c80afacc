/**
 * The registry of stored-file formats: the one list a new format is added
 * to (see docs/architecture.md, "The format seam"). Readers find an
 * object's format from its first bytes; writers choose one by the
 * EncryptionSpec's `format`.
 */
import { CloudlockerError } from '../errors.js';
import type { ChunkedLayout } from './chunked-layout.js';
import { integrityError } from './crypto-errors.js';
import type { ChunkOpener, ChunkSealer, Credentials, EncryptionSpec, HeaderSummary, StoredFormat } from './stored-format.js';
import { formatAge } from './age/age-format.js';
import { formatV1 } from './v1/v1-format.js';

/** Reads `length` bytes at `position` of the stored object (fewer only at its end). */
export type HeaderReader = (position: number, length: number) => Promise<Uint8Array>;

/** A stored object's header, found and cut from its first bytes; not yet authenticated. */
export interface StoredHeader {
  readonly format: StoredFormat;
  /** Exactly the bytes before the first chunk. */
  readonly header: Buffer;
  readonly layout: ChunkedLayout;
}

export class FormatRegistry {
  /** Bytes a reader fetches first: enough for every format's usual header. */
  readonly headerReadHint: number;

  constructor(readonly formats: readonly StoredFormat[]) {
    if (formats.length === 0) throw new RangeError('a format registry needs at least one format');
    this.headerReadHint = Math.max(...formats.map((format) => Math.max(format.headerReadHint, format.magicLength)));
  }

  /** The format an EncryptionSpec chooses. */
  forSpec(spec: EncryptionSpec): StoredFormat {
    const format = this.formats.find((candidate) => candidate.name === spec.format);
    if (format === undefined) throw new TypeError(`no stored format is registered as "${spec.format}"`);
    return format;
  }

  /** The format whose magic starts `firstBytes`; undefined when none does. */
  detect(firstBytes: Uint8Array): StoredFormat | undefined {
    return this.formats.find((format) => firstBytes.length >= format.magicLength && format.detect(firstBytes));
  }

  createSealer(spec: EncryptionSpec, plaintextSize?: number): ChunkSealer {
    return this.forSpec(spec).createSealer(spec, plaintextSize);
  }

  /** The sealer of an interrupted upload, from the header it journaled. */
  resumeSealer(spec: EncryptionSpec, header: Uint8Array): ChunkSealer {
    return this.formatOfHeader(header).resumeSealer(spec, header);
  }

  createOpener(credentials: Credentials, header: Uint8Array): ChunkOpener {
    return this.formatOfHeader(header).createOpener(credentials, header);
  }

  /** The non-secret facts of a header (getFileInfo); not authenticated. */
  describe(header: Uint8Array): HeaderSummary {
    return this.formatOfHeader(header).describe(header);
  }

  /** The format and layout of a complete header (one kept in the journal, say). */
  parse(header: Uint8Array): StoredHeader {
    const format = this.formatOfHeader(header);
    const length = format.headerLength(header);
    if (length === undefined) throw new CloudlockerError('INTEGRITY');
    return { format, header: Buffer.from(header.subarray(0, length)), layout: format.layoutFor(length) };
  }

  /**
   * The plaintext size of an object from its stored size alone, when that is
   * possible without reading it: every registered format has a fixed header
   * and they all agree on the answer (today: v1 alone). Undefined otherwise;
   * then the header tells (readHeader, then its layout). Throws INTEGRITY
   * when every format finds the size impossible.
   */
  plaintextSizeFromStoredSize(storedSize: number): number | undefined {
    let answer: number | undefined;
    let firstError: unknown;
    let failures = 0;
    for (const format of this.formats) {
      if (format.fixedHeaderLength === undefined) return undefined;
      try {
        const size = format.layoutFor(format.fixedHeaderLength).plaintextSizeFor(storedSize);
        if (answer !== undefined && answer !== size) return undefined;
        answer = size;
      } catch (err) {
        firstError ??= err;
        failures += 1;
      }
    }
    if (failures === this.formats.length) throw firstError;
    return failures === 0 ? answer : undefined;
  }

  /**
   * Reads an object's header through `read`: headerReadHint bytes first,
   * more (doubling, up to the format's maxHeaderLength) while the header
   * goes on. INTEGRITY when the object ends before its header does, starts
   * like no registered format, or has a header longer than its format allows.
   */
  async readHeader(read: HeaderReader): Promise<StoredHeader> {
    let wanted = this.headerReadHint;
    let prefix = await read(0, wanted);
    for (;;) {
      const format = this.detect(prefix);
      if (format === undefined) {
        if (prefix.length < wanted) throw new CloudlockerError('INTEGRITY');
        throw integrityError('it does not start like a cloudlocker encrypted file');
      }
      const length = format.headerLength(prefix);
      if (length !== undefined) {
        return { format, header: Buffer.from(prefix.subarray(0, length)), layout: format.layoutFor(length) };
      }
      if (prefix.length < wanted || wanted >= format.maxHeaderLength) throw new CloudlockerError('INTEGRITY');
      wanted = Math.min(format.maxHeaderLength, wanted * 2);
      prefix = await read(0, wanted);
    }
  }

  private formatOfHeader(header: Uint8Array): StoredFormat {
    const format = this.detect(header);
    if (format === undefined) throw integrityError('it does not start like a cloudlocker encrypted file');
    return format;
  }
}

/** The formats this build reads; writers choose among them by EncryptionSpec.format. */
export const storedFormats = new FormatRegistry([formatV1, formatAge]);
