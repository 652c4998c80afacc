/**
 * The checkpoints (checkpoints.ts) of a journaled transfer, kept in its
 * transfer-journal entry: what the engine asks at each step of an upload or
 * download, answered from and written to the journal.
 */
import { isCloudlockerError } from '../errors.js';
import type { ObjectWriter, ResumedPart, Storage } from '../storage/storage.js';
import type {
  DownloadCheckpoints,
  DownloadPreparation,
  PreparedUpload,
  UploadCheckpoints,
  UploadPreparation,
} from './checkpoints.js';
import { createDestinationFile, removeQuietly, reopenDestinationFile, type DestinationFile } from './local-files.js';
import { PartLayout } from './part-layout.js';
import { verifySourceUnchanged } from './source-verification.js';
import { PartState, type JournalEntry, type PartSlot } from './transfer-journal.js';

/** An upload's checkpoints in its journal entry: a new write, or the journaled one resumed after its source was verified. */
export class UploadJournalCheckpoints implements UploadCheckpoints {
  private readonly done = new Set<number>();
  private readonly hashes = new Map<number, Buffer>();
  private journaledToken: string | undefined;
  /** The write of the latest token: every part waits for it before it counts as done. */
  private tokenWritten: Promise<void> = Promise.resolve();

  /** `slots`: the journaled parts of a resumed upload; undefined for a new one. */
  constructor(
    private readonly entry: JournalEntry,
    private readonly storage: Storage,
    private readonly slots: PartSlot[] | undefined,
  ) {
    this.journaledToken = entry.record.resumeToken;
  }

  isDone(partIndex: number): boolean {
    return this.done.has(partIndex);
  }

  async prepare(context: UploadPreparation): Promise<PreparedUpload> {
    const { header, resumeToken, chunksPerPart } = this.entry.record;
    if (this.slots !== undefined && header !== undefined && resumeToken !== undefined && chunksPerPart !== undefined) {
      const resumed = await this.resumeWrite(context, Buffer.from(header, 'base64'), resumeToken, chunksPerPart);
      if (resumed !== undefined) return resumed;
    } else if (resumeToken !== undefined) {
      await this.storage.discardWrite(this.entry.record.name, resumeToken);
    }
    return this.startWrite(context);
  }

  private async startWrite(context: UploadPreparation): Promise<PreparedUpload> {
    this.done.clear();
    await this.entry.clearParts();
    // A new header and payload key: nothing encrypted before a restart is ever re-encrypted under it.
    const encryptor = context.formats.createSealer(context.encryption, context.plaintextSize);
    const writer = await context.storage.beginWrite(this.entry.record.name, {
      signal: context.signal,
      expectedSize: encryptor.layout.storedSizeFor(context.plaintextSize),
    });
    try {
      const chunksPerPart = context.chunksPerPartFor(writer, encryptor.layout);
      this.journaledToken = writer.resumeToken;
      await this.entry.update({
        header: encryptor.header.toString('base64'),
        chunksPerPart,
        partCount: new PartLayout(this.entry.record.totalBytes, chunksPerPart, encryptor.layout).partCount,
        resumeToken: writer.resumeToken,
      });
      return { encryptor, writer, chunksPerPart };
    } catch (err) {
      await writer.abort();
      throw err;
    }
  }

  /** Continue the journaled write; undefined when the store no longer has it (then the upload starts over). */
  private async resumeWrite(
    context: UploadPreparation,
    header: Buffer,
    resumeToken: string,
    chunksPerPart: number,
  ): Promise<PreparedUpload | undefined> {
    const name = this.entry.record.name;
    const encryptor = context.formats.resumeSealer(context.encryption, header);
    const layout = new PartLayout(this.entry.record.totalBytes, chunksPerPart, encryptor.layout);
    const slots = this.slots ?? [];
    try {
      await verifySourceUnchanged(context.source, encryptor, layout, slots);
    } catch (err) {
      await this.storage.discardWrite(name, resumeToken);
      await this.entry.clearParts();
      await this.entry.update({ resumeToken: undefined, header: undefined });
      throw err;
    }
    const parts: ResumedPart[] = [];
    slots.forEach((slot, index) => {
      if (slot.state !== PartState.done) return;
      const part = layout.part(index);
      parts.push({
        partIndex: index,
        // Part 0 carries the header before its chunks.
        offset: index === 0 ? 0 : part.chunksOffset,
        length: index === 0 ? part.chunksOffset + part.chunksLength : part.chunksLength,
        ...(slot.receipt === undefined ? {} : { receipt: slot.receipt }),
      });
    });
    let writer: ObjectWriter;
    try {
      writer = await context.storage.resumeWrite(name, resumeToken, {
        signal: context.signal,
        expectedSize: encryptor.layout.storedSizeFor(context.plaintextSize),
        parts,
      });
    } catch (err) {
      if (isCloudlockerError(err, 'NOT_FOUND')) return undefined;
      throw err;
    }
    for (const part of parts) {
      this.done.add(part.partIndex);
      const hash = slots[part.partIndex]?.sha256;
      if (hash !== undefined) this.hashes.set(part.partIndex, hash);
    }
    await this.entry.update({
      resumes: [
        ...(this.entry.record.resumes ?? []),
        { at: new Date().toISOString(), doneParts: parts.length, partCount: layout.partCount },
      ],
    });
    return { encryptor, writer, chunksPerPart };
  }

  async committing(): Promise<void> {
    await this.entry.update({ committing: true });
  }

  async partSealed(partIndex: number, tagDigest: Uint8Array): Promise<void> {
    const digest = Buffer.from(tagDigest);
    this.hashes.set(partIndex, digest);
    await this.entry.partSealed(partIndex, digest);
  }

  async partDone(partIndex: number, writer?: ObjectWriter): Promise<void> {
    const token = writer?.resumeToken;
    if (token !== this.journaledToken) {
      // S3: the multipart upload exists once the first part is in; journal its id before any part counts as done.
      this.journaledToken = token;
      this.tokenWritten = this.entry.update({ resumeToken: token });
    }
    await this.tokenWritten;
    const receipt = writer?.partReceipt?.(partIndex);
    const sha256 = this.hashes.get(partIndex);
    await this.entry.partDone(partIndex, { ...(sha256 === undefined ? {} : { sha256 }), ...(receipt === undefined ? {} : { receipt }) });
  }

  async finish(...args: Parameters<UploadCheckpoints['finish']>): Promise<void> {
    const [outcome] = args;
    const { resumeToken, name } = this.entry.record;
    // A resumed upload may fail before it reopened its write (the source changed): discard that write here.
    if (outcome !== 'completed' && resumeToken !== undefined) await this.storage.discardWrite(name, resumeToken);
    await this.entry.finish(...args);
  }
}

/** A download's checkpoints in its journal entry: the temporary of before a restart is kept when the object is the same. */
export class DownloadJournalCheckpoints implements DownloadCheckpoints {
  private readonly done = new Set<number>();

  constructor(
    private readonly entry: JournalEntry,
    private readonly slots: PartSlot[] | undefined,
  ) {}

  isDone(partIndex: number): boolean {
    return this.done.has(partIndex);
  }

  async prepare(context: DownloadPreparation): Promise<{ temp: DestinationFile; chunksPerPart: number }> {
    const { header, chunksPerPart, download } = this.entry.record;
    const sameObject = header !== undefined && Buffer.from(header, 'base64').equals(Buffer.from(context.header));
    if (this.slots !== undefined && sameObject && chunksPerPart !== undefined && download?.target === context.target) {
      const temp = await reopenDestinationFile(context.tempPath);
      if (temp !== undefined) {
        this.slots.forEach((slot, index) => {
          if (slot.state === PartState.done) this.done.add(index);
        });
        return { temp, chunksPerPart };
      }
    }
    // A new start (or the object was replaced, or the temporary is gone): nothing of before is kept.
    this.done.clear();
    await this.entry.clearParts();
    await removeQuietly(context.tempPath);
    const temp = await createDestinationFile(context.tempPath);
    try {
      await this.entry.update({
        header: Buffer.from(context.header).toString('base64'),
        chunksPerPart: context.preferredChunksPerPart,
        partCount: new PartLayout(this.entry.record.totalBytes, context.preferredChunksPerPart, context.chunks).partCount,
        ...(download === undefined ? {} : { download: { ...download, target: context.target } }),
      });
    } catch (err) {
      await temp.close().catch(() => undefined);
      throw err;
    }
    return { temp, chunksPerPart: context.preferredChunksPerPart };
  }

  async partDone(partIndex: number): Promise<void> {
    await this.entry.partDone(partIndex);
  }

  async committing(): Promise<void> {
    await this.entry.update({ committing: true });
  }

  async finish(...args: Parameters<DownloadCheckpoints['finish']>): Promise<void> {
    await this.entry.finish(...args);
  }
}


