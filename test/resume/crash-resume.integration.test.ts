/**
 * Resumable transfers across kill -9, on both backends: the built server
 * (dist/, built once here) runs as a child process on a slowed store
 * (fixtures/slow-server.mjs), is killed with SIGKILL in the middle of a
 * 64 MiB upload, then of a 64 MiB download, then of two smaller uploads, and
 * started again on the same data directory and port each time.
 *
 * What is measured: the parts each run asked the store to write or read
 * (the child reports every one on stdout) against the transfer journal's
 * part slots at the moment of the kill. A resumed transfer must send only
 * the parts not journaled as done, and of those only the ones in flight at
 * the crash may have been sent before.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, readdir, rm, writeFile, open } from 'node:fs/promises';
import path from 'node:path';
import { createNewKeyFile } from '../../src/crypto/index.js';
import { ensureBuilt } from '../faults/built-server.js';
import { ageSecretsOf, filesUnder, passphraseSecrets, secretsInFilesUnder, type NamedSecret } from '../helpers/age-secrets.js';
import { makeTempDir, type NotificationMessage, type TestClient } from '../helpers/server.js';
import { startS3rver, TEST_BUCKET, type RunningS3rver } from '../helpers/s3rver.js';
import { freePort } from '../helpers/free-port.js';
import { killChildServers, startChildServer, type ChildEvent, type ChildServer } from '../helpers/child-server.js';

const TOKEN = 'resume-test-token-0123456789abcdef';
const MiB = 1024 * 1024;
const BIG = 64 * MiB;
const SLOT_SIZE = 128;
/** The engine's part concurrency: at most this many parts are in flight at a crash. */
const PARTS_IN_FLIGHT = 4;

type Child = ChildServer;

interface Backend {
  readonly name: 'local' | 's3';
  readonly env: Record<string, string>;
  readonly delayMs: number;
  /**
   * Size of the two uploads held after their first two parts: four parts on
   * this backend, so that the two held parts of each leave the other's free
   * (the engine has four part slots in all).
   */
  readonly fourParts: number;
  /** The part at 50 % of the big upload (64 MiB: 64 parts locally, 13 on S3). */
  readonly halfwayPart: number;
}

// The same build the fault tests use: skipped when dist/ is newer than every source.
beforeAll(() => ensureBuilt(), 120_000);

afterAll(() => killChildServers());

async function startChild(backend: Backend, dataDir: string, port: number, extraEnv: Record<string, string> = {}): Promise<Child> {
  return startChildServer(TOKEN, { DATA_DIR: dataDir, PORT: String(port), PART_DELAY_MS: String(backend.delayMs), ...backend.env, ...extraEnv });
}

function progressOf(client: TestClient, transferId: string): NotificationMessage[] {
  return client.notifications.filter((n) => n.method === 'transferProgress' && n.params['transferId'] === transferId);
}

/** Waits until `condition` holds of the transfer's latest progress notification. */
async function waitForProgress(
  client: TestClient,
  transferId: string,
  condition: (params: Record<string, unknown>) => boolean,
  timeoutMs = 20_000,
): Promise<Record<string, unknown>> {
  try {
    const found = await client.waitForNotification(
      (n) => n.method === 'transferProgress' && n.params['transferId'] === transferId && condition(n.params),
      timeoutMs,
    );
    return found.params;
  } catch (err) {
    const seen = client.notifications.filter((n) => n.params['transferId'] === transferId).slice(-2);
    throw new Error(`${String(err)}; latest for ${transferId}: ${JSON.stringify(seen)}`);
  }
}

const fraction = (params: Record<string, unknown>, counter: 'transferredBytes' | 'cryptoBytes') =>
  (params[counter] as number) / (params['totalBytes'] as number);

/** The part slots of a journaled transfer: 0 untouched, 1 in flight (sealed), 2 done. */
async function journalSlots(dataDir: string, transferId: string): Promise<{ done: Set<number>; inFlight: Set<number>; partCount: number }> {
  const record = JSON.parse(await readFile(path.join(dataDir, 'transfers', `${transferId}.json`), 'utf8')) as { partCount: number };
  const bytes = await readFile(path.join(dataDir, 'transfers', `${transferId}.parts`));
  const done = new Set<number>();
  const inFlight = new Set<number>();
  for (let index = 0; index < record.partCount; index++) {
    const state = bytes[index * SLOT_SIZE];
    if (state === 2) done.add(index);
    else if (state === 1) inFlight.add(index);
  }
  return { done, inFlight, partCount: record.partCount };
}

/** The outcome of a transfer for a client that may have connected after it finished. */
async function finalState(client: TestClient, transferId: string, timeoutMs = 30_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { transfers } = await client.request('listTransfers', {});
    const status = transfers.find((t) => t.transferId === transferId);
    if (status !== undefined && ['completed', 'failed', 'cancelled'].includes(status.state)) return status;
    if (Date.now() > deadline) throw new Error(`transfer ${transferId} did not finish: ${JSON.stringify(status)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function partsSent(child: Child, event: 'writePart' | 'readRange', name: string, toIndex: (e: ChildEvent) => number): number[] {
  return child.events.filter((e) => e.event === event && e.name === name).map(toIndex);
}

async function sha256File(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

/** Figures for the report, printed once per backend. */
const measured: Record<string, unknown> = {};
afterAll(() => {
  process.stdout.write(`crash-resume measurements: ${JSON.stringify(measured)}\n`);
});

/** No file under the data dir (transfers/*.json, *.parts, anything else) holds any of the secrets; there is a journal to search. */
async function expectJournalHoldsNone(dataDir: string, secrets: readonly NamedSecret[]): Promise<void> {
  const files = await filesUnder(dataDir);
  expect(files.some((file) => file.endsWith('.json'))).toBe(true);
  expect(files.some((file) => file.endsWith('.parts'))).toBe(true);
  expect(await secretsInFilesUnder(dataDir, secrets)).toEqual([]);
}

function crashScenarios(backendName: 'local' | 's3', backendOf: () => Backend): void {
  describe(`kill -9 and resume: ${backendName}`, () => {
    let dir: string;

    beforeAll(async () => {
      dir = await makeTempDir('cloudlocker-resume-');
    });

    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it(
      'resumes an upload and a download after kill -9, sending again only the parts in flight; cancels and refuses as documented',
      async () => {
        const backend = backendOf();
        const dataDir = path.join(dir, 'data');
        const port = await freePort();
        const source = path.join(dir, 'big.bin');
        await writeFile(source, randomBytes(BIG));
        const sourceHash = await sha256File(source);
        // Format v2: an age identity, and an extra recipient the journal must keep to rebuild the sealer.
        const keyPath = path.join(dir, 'key.txt');
        await createNewKeyFile(keyPath);
        const friend = await createNewKeyFile(path.join(dir, 'friend.key.txt'));
        const friendCard = friend.key.format === 'age' ? friend.key.card.card : '';

        // Run 1: an upload, killed between 30 % and 70 % (its parts from the middle on never finish in this run).
        let child = await startChild(backend, dataDir, port, { HOLD_NAMES: 'big.bin', HOLD_FROM_PART: String(backend.halfwayPart) });
        const upload = child.client.call('upload', { path: source, keyPath, name: 'big.bin', transferId: 'crash-up', recipients: [friendCard] });
        void upload;
        const seenBeforeKill = await waitForProgress(child.client, 'crash-up', (p) => fraction(p, 'transferredBytes') >= 0.3);
        await child.kill9();
        // The journal holds what resuming needs, never the identity's secret.
        const keySecrets = [...(await ageSecretsOf(keyPath)), ...(await ageSecretsOf(path.join(dir, 'friend.key.txt')))];
        await expectJournalHoldsNone(dataDir, keySecrets);
        const atUploadKill = await journalSlots(dataDir, 'crash-up');
        const partSize = Math.ceil(BIG / atUploadKill.partCount);
        expect(atUploadKill.done.size).toBeLessThan(atUploadKill.partCount * 0.75);
        // Nothing reported as transferred is lost: the journal has at least as much done.
        expect(atUploadKill.done.size * partSize).toBeGreaterThanOrEqual((seenBeforeKill['transferredBytes'] as number) - partSize);
        expect(atUploadKill.inFlight.size).toBeLessThanOrEqual(PARTS_IN_FLIGHT);
        const startedInRun1 = new Set(partsSent(child, 'writePart', 'big.bin', (e) => e.partIndex!));
        const journaled = JSON.parse(await readFile(path.join(dataDir, 'transfers', 'crash-up.json'), 'utf8')) as { upload: { recipients?: string[] } };
        expect(journaled.upload.recipients).toEqual([friendCard]);

        // Run 2: it resumes by itself under the same id; a client connected after the restart sees it finish.
        // (Reads of the second half of big.bin never finish in this run: the download below stops there.)
        child = await startChild(backend, dataDir, port, { HOLD_READS: 'big.bin', HOLD_READS_FROM: String(BIG / 2) });
        const uploaded = await finalState(child.client, 'crash-up');
        expect(uploaded['state']).toBe('completed');
        const writtenInRun2 = partsSent(child, 'writePart', 'big.bin', (e) => e.partIndex!);
        const expectedRun2 = [...Array(atUploadKill.partCount).keys()].filter((i) => !atUploadKill.done.has(i));
        expect([...writtenInRun2].sort((a, b) => a - b)).toEqual(expectedRun2);
        const uploadResent = writtenInRun2.filter((i) => startedInRun1.has(i));
        expect(uploadResent.length).toBeLessThanOrEqual(PARTS_IN_FLIGHT);
        for (const index of uploadResent) expect(atUploadKill.inFlight.has(index)).toBe(true);

        // A download of what was uploaded, killed between 30 % and 70 % (its bytes prove the upload too).
        const target = path.join(dir, 'big.out');
        void child.client.call('download', { name: 'big.bin', keyPath, destination: target, transferId: 'crash-down' });
        await waitForProgress(child.client, 'crash-down', (p) => fraction(p, 'cryptoBytes') >= 0.3);
        await child.kill9();
        await expectJournalHoldsNone(dataDir, keySecrets);
        const atDownloadKill = await journalSlots(dataDir, 'crash-down');
        expect(atDownloadKill.done.size).toBeLessThan(atDownloadKill.partCount * 0.75);
        const temporaries = (await readdir(dir)).filter((entry) => entry.endsWith('.cloudlocker-part'));
        expect(temporaries).toHaveLength(1);
        const readInRun2 = new Set(partsSent(child, 'readRange', 'big.bin', (e) => e.offset!)).size;

        // Run 3: the download resumes and completes, byte-identical; finished transfers of earlier runs are still listed.
        // (The two uploads started later in this run never get past their first two parts.)
        child = await startChild(backend, dataDir, port, { HOLD_NAMES: 'changing.bin,guarded.bin', HOLD_FROM_PART: '2' });
        const downloaded = await finalState(child.client, 'crash-down');
        expect(downloaded['state']).toBe('completed');
        expect(await sha256File(target)).toBe(sourceHash);
        const readInRun3 = partsSent(child, 'readRange', 'big.bin', () => 0).length;
        expect(readInRun3).toBe(atDownloadKill.partCount - atDownloadKill.done.size);
        const downloadFetchedTwice = readInRun2 + readInRun3 - atDownloadKill.partCount;
        expect(downloadFetchedTwice).toBeLessThanOrEqual(PARTS_IN_FLIGHT);
        const { transfers } = await child.client.request('listTransfers', {});
        expect(transfers.find((t) => t.transferId === 'crash-up')?.state).toBe('completed');
        // The resumed upload is the age file the request asked for: the uploader, the extra recipient, the author.
        expect(await child.client.request('getFileInfo', { name: 'big.bin' })).toMatchObject({ format: 'age', stanzaCount: 3 });

        // Two more uploads, killed once each has a part stored: one source then changes, one key needs a passphrase.
        const changing = path.join(dir, 'changing.bin');
        const guarded = path.join(dir, 'guarded.bin');
        await writeFile(changing, randomBytes(backend.fourParts));
        await writeFile(guarded, randomBytes(backend.fourParts));
        // A passphrase-protected age identity (scrypt): the journal never holds the passphrase (checked after the kill below).
        const guardedKey = path.join(dir, 'guarded.key.txt');
        await createNewKeyFile(guardedKey, { passphrase: 'a passphrase for the test' });
        void child.client.call('upload', {
          path: guarded,
          keyPath: guardedKey,
          keyPassphrase: 'a passphrase for the test',
          name: 'guarded.bin',
          transferId: 'guarded',
        });
        void child.client.call('upload', { path: changing, keyPath, name: 'changing.bin', transferId: 'changed-source' });
        for (const transferId of ['guarded', 'changed-source']) {
          await waitForProgress(child.client, transferId, (p) => (p['transferredBytes'] as number) > 0);
        }
        await child.kill9();
        // Neither the passphrase nor either identity's secret is in any journal file (records and .parts).
        const guardedSecrets = [...passphraseSecrets('a passphrase for the test'), ...(await ageSecretsOf(guardedKey, 'a passphrase for the test'))];
        await expectJournalHoldsNone(dataDir, [...keySecrets, ...guardedSecrets]);
        expect((await filesUnder(dataDir)).map((file) => path.relative(dataDir, file))).toEqual(
          expect.arrayContaining([path.join('transfers', 'guarded.json'), path.join('transfers', 'guarded.parts')]),
        );
        const changedRecord = JSON.parse(await readFile(path.join(dataDir, 'transfers', 'changed-source.json'), 'utf8')) as {
          resumeToken?: string;
        };
        const guardedRecord = JSON.parse(await readFile(path.join(dataDir, 'transfers', 'guarded.json'), 'utf8')) as {
          resumeToken?: string;
        };
        expect(changedRecord.resumeToken).toBeDefined();
        expect(guardedRecord.resumeToken).toBeDefined();
        // Same size, new content and mtime.
        const handle = await open(changing, 'r+');
        await handle.write(randomBytes(4096), 0, 4096, 0);
        await handle.close();

        // Run 4: the changed source fails with SOURCE_CHANGED; the passphrase-protected one waits, interrupted, until cancelled.
        child = await startChild(backend, dataDir, port);
        const changed = await finalState(child.client, 'changed-source');
        expect(changed['state']).toBe('failed');
        expect((changed['error'] as { data: { reason: string } }).data.reason).toBe('SOURCE_CHANGED');
        const waiting = (await child.client.request('listTransfers', {})).transfers.find((t) => t.transferId === 'guarded');
        expect(waiting?.state).toBe('interrupted');
        expect(waiting?.transferredBytes).toBeGreaterThan(0);
        const cancelled = await child.client.request('cancelTransfer', { transferId: 'guarded' });
        expect(cancelled).toEqual({ transferId: 'guarded', cancelled: true });
        await expect(readdir(path.join(dataDir, 'transfers'))).resolves.not.toContain('guarded.json');
        await expect(readdir(path.join(dataDir, 'transfers'))).resolves.not.toContain('guarded.parts');
        if (backend.name === 'local') {
          // The partial objects of both (discarded and cancelled) are gone from the store's temporaries.
          const leftovers = await readdir(path.join(dataDir, 'store', '.tmp'));
          expect(leftovers).not.toContain(changedRecord.resumeToken);
          expect(leftovers).not.toContain(guardedRecord.resumeToken);
        }
        for (const name of ['changing.bin', 'guarded.bin']) {
          const info = await child.client.call('getFileInfo', { name });
          expect(info.error?.data?.['reason']).toBe('NOT_FOUND');
        }
        // Finished outcomes stay until acknowledged.
        const acknowledged = await child.client.request('acknowledgeTransfers', {
          transferIds: ['crash-up', 'crash-down', 'changed-source', 'unknown'],
        });
        expect(acknowledged.acknowledged.sort()).toEqual(['changed-source', 'crash-down', 'crash-up']);
        expect(await readdir(path.join(dataDir, 'transfers'))).toEqual([]);
        await child.kill9();

        measured[backend.name] = {
          fileBytes: BIG,
          upload: {
            partCount: atUploadKill.partCount,
            partBytes: partSize,
            doneAtKill: atUploadKill.done.size,
            inFlightAtKill: atUploadKill.inFlight.size,
            partsSentAfterRestart: writtenInRun2.length,
            partsSentTwice: uploadResent.length,
            bytesSentTwiceAtMost: uploadResent.length * partSize,
          },
          download: {
            partCount: atDownloadKill.partCount,
            doneAtKill: atDownloadKill.done.size,
            partBytes: Math.ceil(BIG / atDownloadKill.partCount),
            partsFetchedBeforeKill: readInRun2,
            partsFetchedAfterRestart: readInRun3,
            partsFetchedTwice: downloadFetchedTwice,
          },
        };
      },
      90_000,
    );
  });
}

crashScenarios('local', () => ({ name: 'local', env: { STORAGE: 'local' }, delayMs: 40, fourParts: 4 * MiB, halfwayPart: 32 }));

let s3rver: RunningS3rver;
describe('with s3rver', () => {
  beforeAll(async () => {
    s3rver = await startS3rver();
  });
  afterAll(async () => {
    await s3rver.stop();
  });
  crashScenarios('s3', () => ({
    name: 's3',
    env: { STORAGE: 's3', S3_ENDPOINT: s3rver.endpoint, S3_BUCKET: TEST_BUCKET },
    delayMs: 150,
    fourParts: 16 * MiB,
    halfwayPart: 7,
  }));
});
