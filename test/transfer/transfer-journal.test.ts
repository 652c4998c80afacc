/** The transfer journal on its own, and FileEncryptor.fromHeader that a resumed upload relies on. */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CHUNK_SIZE, FileDecryptor, FileEncryptor, HEADER_SIZE, generateMasterKey } from '../../src/crypto/index.js';
import { isCloudlockerError } from '../../src/errors.js';
import { PartState, SLOT_SIZE, TransferJournal, sha256Of } from '../../src/transfer/transfer-journal.js';
import { summarizeGroupLog } from '../../src/transfer/group-resume.js';
import { makeTempDir } from '../helpers/server.js';

const uploadRecord = (transferId: string) => ({
  transferId,
  direction: 'upload' as const,
  name: 'docs/report.pdf',
  totalBytes: 10 * CHUNK_SIZE,
  startedAt: new Date().toISOString(),
  upload: {
    sourcePath: '/somewhere/report.pdf',
    sourceSize: 10 * CHUNK_SIZE,
    sourceMtimeMs: 1,
    keyPath: '/somewhere/key.json',
    keyCreated: false,
    overwrite: false,
  },
});

describe('TransferJournal', () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await makeTempDir('cloudlocker-journal-');
  });
  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps parameters and part slots across a reopen, with positioned writes of fixed-size slots', async () => {
    const journal = await TransferJournal.open(dataDir);
    const entry = await journal.create(uploadRecord('t1'));
    await entry.update({ chunksPerPart: 2, partCount: 5, resumeToken: 'upload-id-1' });
    const hash = sha256Of(Buffer.from('part two'));
    await entry.partSealed(2, hash);
    await entry.partDone(0, { sha256: sha256Of(Buffer.from('part zero')), receipt: '"etag-0"' });
    await journal.close();

    const partsFile = await readFile(path.join(dataDir, 'transfers', 't1.parts'));
    expect(partsFile.length).toBe(3 * SLOT_SIZE);

    const reopened = await TransferJournal.open(dataDir);
    const [again] = reopened.active();
    expect(again?.record).toMatchObject({ transferId: 't1', state: 'active', resumeToken: 'upload-id-1', partCount: 5 });
    const slots = await again!.readParts(5);
    expect(slots.map((slot) => slot.state)).toEqual([PartState.done, PartState.untouched, PartState.sealed, 0, 0]);
    expect(slots[0]?.receipt).toBe('"etag-0"');
    expect(slots[2]?.sha256?.equals(hash)).toBe(true);
    await reopened.close();
  });

  it('records finished outcomes, drops them after the retention time, and removes what is not its own', async () => {
    let now = Date.now();
    const journal = await TransferJournal.open(dataDir, { now: () => now, finishedRetentionMs: 1000 });
    const entry = await journal.create(uploadRecord('done'));
    await entry.partDone(0);
    await entry.finish('failed', { error: { code: -32010, message: 'changed', data: { reason: 'SOURCE_CHANGED' } } });
    expect(await readdir(path.join(dataDir, 'transfers'))).toEqual(['done.json']);
    await writeFile(path.join(dataDir, 'transfers', 'broken.json'), '{ not json');
    await writeFile(path.join(dataDir, 'transfers', 'orphan.parts'), Buffer.alloc(SLOT_SIZE));

    const reopened = await TransferJournal.open(dataDir, { now: () => now });
    expect(reopened.finished().map((e) => e.record.outcome)).toEqual(['failed']);
    expect((await readdir(path.join(dataDir, 'transfers'))).sort()).toEqual(['done.json']);

    now += 25 * 60 * 60 * 1000;
    const later = await TransferJournal.open(dataDir, { now: () => now });
    expect(later.finished()).toEqual([]);
    expect(await readdir(path.join(dataDir, 'transfers'))).toEqual([]);
  });

  it('keeps at most maxFinishedKept finished outcomes: the oldest go, files included, unfinished ones stay', async () => {
    const journal = await TransferJournal.open(dataDir, { maxFinishedKept: 2 });
    const started = Date.parse('2026-01-01T00:00:00Z');
    const at = (i: number) => new Date(started + i * 1000).toISOString();
    const running = await journal.create({ ...uploadRecord('running'), startedAt: at(0) });
    for (const i of [1, 2, 3, 4]) {
      const entry = await journal.create({ ...uploadRecord(`done-${i}`), startedAt: at(i) });
      await entry.finish('completed', {});
      await journal.pruneFinished();
    }
    expect(journal.finished().map((e) => e.transferId)).toEqual(['done-3', 'done-4']);
    expect(journal.active()).toEqual([running]);
    expect((await readdir(path.join(dataDir, 'transfers'))).sort()).toEqual(['done-3.json', 'done-4.json', 'running.json']);
    await journal.close();
  });

  it('never holds a key: only the parameters it was given', async () => {
    const journal = await TransferJournal.open(dataDir);
    await journal.create(uploadRecord('t2'));
    const text = await readFile(path.join(dataDir, 'transfers', 't2.json'), 'utf8');
    expect(Object.keys(JSON.parse(text) as object).sort()).toEqual(
      ['direction', 'name', 'startedAt', 'state', 'totalBytes', 'transferId', 'upload', 'version'].sort(),
    );
  });

  it('journals a 10 000-member group by appending: the record is written twice (start, finish), the log grows by its lines only', async () => {
    const journal = await TransferJournal.open(dataDir);
    const entry = await journal.create({
      transferId: 'big-group',
      direction: 'upload',
      name: 'many',
      totalBytes: 10_000 * 4096,
      startedAt: new Date().toISOString(),
      group: { kind: 'uploadFolder', path: '/somewhere/many', keyPath: '/somewhere/key.txt', keyCreated: false, overwrite: false, filesTotal: 10_000 },
    });
    const recordFile = path.join(dataDir, 'transfers', 'big-group.json');
    const logFile = path.join(dataDir, 'transfers', 'big-group.done');
    const recordBefore = await readFile(recordFile, 'utf8');
    let expectedBytes = 0;
    const started = Date.now();
    for (let index = 0; index < 10_000; index++) {
      const name = `many/f${index}.bin`;
      const lines = [
        { started: name, memberId: `m-${index}`, prior: null },
        { done: name, size: 4096, version: `v${index}`, sourceSize: 4096, sourceMtimeMs: 1 },
      ];
      for (const line of lines) {
        expectedBytes += Buffer.byteLength(`${JSON.stringify(line)}\n`);
        void entry.appendLog(line);
      }
    }
    const lines = await entry.readLog();
    const elapsedMs = Date.now() - started;
    // Appended once each, in order: the log is exactly its lines (no rewrite), the record untouched.
    expect((await stat(logFile)).size).toBe(expectedBytes);
    expect(await readFile(recordFile, 'utf8')).toBe(recordBefore);
    const summary = summarizeGroupLog(lines);
    expect(summary.done.size).toBe(10_000);
    expect(summary.inFlight.size).toBe(0);
    process.stdout.write(`group journal: 20 000 lines (${expectedBytes} bytes) appended and read back in ${elapsedMs} ms\n`);
    // A torn last line (kill -9 mid-write) is skipped, the lines before it are kept.
    await writeFile(logFile, `${await readFile(logFile, 'utf8')}{"done":"many/torn`);
    expect(summarizeGroupLog(await entry.readLog()).done.size).toBe(10_000);
    await entry.finish('completed', {});
    // Finished: the log goes, the record holds the outcome.
    expect((await readdir(path.join(dataDir, 'transfers'))).sort()).toEqual(['big-group.json']);
    await journal.close();
    const reopened = await TransferJournal.open(dataDir);
    expect(reopened.finished().map((e) => e.record.group?.kind)).toEqual(['uploadFolder']);
    await reopened.close();
  }, 60_000);
});

describe('FileEncryptor.fromHeader', () => {
  const key = generateMasterKey();

  it('re-creates the encryptor of an upload: its chunks decrypt under the original header', () => {
    const original = FileEncryptor.create(key);
    const plaintext = Buffer.alloc(CHUNK_SIZE, 7);
    const resumed = FileEncryptor.fromHeader(key, original.header);
    expect(resumed.header.equals(original.header)).toBe(true);
    const first = original.encryptChunk(0, plaintext, false);
    const again = resumed.encryptChunk(0, plaintext, false);
    expect(again.equals(first)).toBe(true);
    const sealed = resumed.encryptChunk(1, Buffer.from('end'), true);
    const decryptor = FileDecryptor.open(key, original.header);
    expect(decryptor.decryptChunk(1, sealed, true).toString()).toBe('end');
  });

  it('refuses another key (KEY_MISMATCH) and a tampered header (INTEGRITY)', () => {
    const header = FileEncryptor.create(key).header;
    expect(catchReason(() => FileEncryptor.fromHeader(generateMasterKey(), header))).toBe('KEY_MISMATCH');
    const tampered = Buffer.from(header);
    tampered[HEADER_SIZE - 1]! ^= 1;
    expect(catchReason(() => FileEncryptor.fromHeader(key, tampered))).toBe('INTEGRITY');
  });
});

function catchReason(run: () => unknown): string | undefined {
  try {
    run();
  } catch (err) {
    return isCloudlockerError(err) ? err.reason : String(err);
  }
  return undefined;
}
