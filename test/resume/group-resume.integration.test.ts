/**
 * Transfer groups (uploadFolder, downloadFolder) across kill -9, on both
 * backends: the built server (dist/) runs as a child process
 * (fixtures/slow-server.mjs, which reports every part written or read) and
 * is killed with SIGKILL in the middle of a folder upload, then of a folder
 * download, and started again on the same data directory.
 *
 * What is checked: the group resumes by itself under its id and completes;
 * no member the group's log (`transfers/<id>.done`) had as done at the kill
 * is written (upload) or read (download) again by the store after the
 * restart; the tree round-trips byte-exact by hash; nothing is left half
 * written; the journal holds no secret of the identity.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createNewKeyFile } from '../../src/crypto/index.js';
import { ensureBuilt } from '../faults/built-server.js';
import { ageSecretsOf, filesUnder, secretsInFilesUnder } from '../helpers/age-secrets.js';
import { makeTempDir, type TestClient } from '../helpers/server.js';
import { startS3rver, TEST_BUCKET, type RunningS3rver } from '../helpers/s3rver.js';
import { freePort } from '../helpers/free-port.js';
import { killChildServers, startChildServer, type ChildServer } from '../helpers/child-server.js';

const TOKEN = 'group-resume-test-token-0123456789';
const FILES = 90;

beforeAll(() => ensureBuilt(), 180_000);

type Child = ChildServer;

afterAll(() => killChildServers());

async function startChild(env: Record<string, string>): Promise<Child> {
  return startChildServer(TOKEN, env);
}

/** Waits for a progress notification of the group whose filesDone reached `count`. */
async function waitForFilesDone(client: TestClient, transferId: string, count: number): Promise<void> {
  await client.waitForNotification(
    (n) =>
      n.method === 'transferProgress' &&
      n.params['transferId'] === transferId &&
      ((n.params['group'] as { filesDone: number } | undefined)?.filesDone ?? 0) >= count,
    60_000,
  );
}

async function finalState(client: TestClient, transferId: string, timeoutMs = 90_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { transfers } = await client.request('listTransfers', {});
    const status = transfers.find((t) => t.transferId === transferId);
    if (status !== undefined && ['completed', 'failed', 'cancelled'].includes(status.state)) return status;
    if (Date.now() > deadline) throw new Error(`group ${transferId} did not finish: ${JSON.stringify(status)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The members the group's log had as done (names), read as the next start will read it. */
async function doneInLog(dataDir: string, transferId: string): Promise<Set<string>> {
  const text = await readFile(path.join(dataDir, 'transfers', `${transferId}.done`), 'utf8');
  const done = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      const parsed = JSON.parse(line) as { done?: string };
      if (parsed.done !== undefined) done.add(parsed.done);
    } catch {
      // a line torn by the kill
    }
  }
  return done;
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

async function hashTree(root: string): Promise<Map<string, string>> {
  const hashes = new Map<string, string>();
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    const full = path.join(entry.parentPath, entry.name);
    const relative = path.relative(root, full).split(path.sep).join('/');
    if (entry.isFile()) hashes.set(relative, sha256(await readFile(full)));
    else if (entry.isDirectory()) hashes.set(`${relative}/`, 'folder');
  }
  return hashes;
}

function groupScenario(backendName: 'local' | 's3', backendEnv: () => Record<string, string>): void {
  describe(`folder groups across kill -9: ${backendName}`, () => {
    let dir: string;
    beforeAll(async () => {
      dir = await makeTempDir('cloudlocker-group-resume-');
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it(
      'resumes an uploadFolder and a downloadFolder by themselves, sending no finished file again, byte-exact',
      async () => {
        const dataDir = path.join(dir, 'data');
        const port = String(await freePort());
        const env = { ...backendEnv(), DATA_DIR: dataDir, PORT: port, PART_DELAY_MS: '25' };
        const tree = path.join(dir, 'tree');
        const names: string[] = [];
        for (let index = 0; index < FILES; index++) {
          const relative = `d${index % 3}/sub ${index % 2}/f${String(index).padStart(3, '0')}.bin`;
          await mkdir(path.dirname(path.join(tree, relative)), { recursive: true });
          await writeFile(path.join(tree, relative), randomBytes(1000 + index * 37));
          names.push(`tree/${relative}`);
        }
        await writeFile(path.join(tree, 'empty.txt'), '');
        await mkdir(path.join(tree, 'empty folder'));
        const sourceHashes = await hashTree(tree);
        const keyPath = path.join(dir, 'key.txt');
        await createNewKeyFile(keyPath);
        // The one member whose writes never finish in run 1: the group is certainly unfinished at the kill.
        const held = names[FILES - 10]!;

        // Run 1: a folder upload, killed once two thirds of its files are done.
        let child = await startChild({ ...env, HOLD_NAMES: held, HOLD_FROM_PART: '0' });
        void child.client.call('uploadFolder', { path: tree, keyPath, transferId: 'group-up' });
        await waitForFilesDone(child.client, 'group-up', Math.floor(FILES * 0.6));
        await child.kill9();
        const doneAtKill = await doneInLog(dataDir, 'group-up');
        expect(doneAtKill.size).toBeGreaterThanOrEqual(Math.floor(FILES * 0.6) - 4);
        expect(doneAtKill.size).toBeLessThan(FILES + 2);
        expect(doneAtKill.has(held)).toBe(false);
        // The group's record and log hold the key file's path, never its secrets.
        const journalFiles = (await filesUnder(path.join(dataDir, 'transfers'))).map((file) => path.basename(file));
        expect(journalFiles).toEqual(expect.arrayContaining(['group-up.json', 'group-up.done']));
        expect(await secretsInFilesUnder(path.join(dataDir, 'transfers'), await ageSecretsOf(keyPath))).toEqual([]);

        // Run 2: it resumes by itself, under the same id, and stores only what was not done.
        child = await startChild(env);
        const uploaded = await finalState(child.client, 'group-up');
        expect(uploaded['state']).toBe('completed');
        expect(uploaded['result']).toMatchObject({ filesTotal: FILES + 2, filesStored: FILES + 2, failed: [], emptyFolders: 1 });
        const writtenAfterRestart = new Set(child.events.filter((e) => e.event === 'writePart').map((e) => e.name!));
        expect([...writtenAfterRestart].filter((name) => doneAtKill.has(name))).toEqual([]);
        expect(writtenAfterRestart.has(held)).toBe(true);
        expect(writtenAfterRestart.size).toBeLessThanOrEqual(FILES + 2 - doneAtKill.size);

        // A folder download, killed part-way (one member's reads never finish in this run).
        const restore = path.join(dir, 'restore');
        await mkdir(restore);
        const downloadEnv = { ...env, HOLD_READS: held, HOLD_READS_FROM: '1' };
        await child.kill9();
        child = await startChild(downloadEnv);
        void child.client.call('downloadFolder', { name: 'tree', keyPath, destination: restore, transferId: 'group-down' });
        await waitForFilesDone(child.client, 'group-down', Math.floor(FILES * 0.6));
        const progressSeen = child.client.notifications.filter((n) => n.method === 'transferProgress' && n.params['transferId'] === 'group-down');
        // age byte totals: the group's total is the plaintext of every file (not 0), known from the start.
        const plaintextTotal = FILES * 1000 + (37 * FILES * (FILES - 1)) / 2;
        expect(progressSeen[0]?.params['totalBytes']).toBe(plaintextTotal);
        await child.kill9();
        const savedAtKill = await doneInLog(dataDir, 'group-down');
        expect(savedAtKill.size).toBeGreaterThanOrEqual(Math.floor(FILES * 0.6) - 4);
        expect(savedAtKill.has(held)).toBe(false);

        // Run 3: the download resumes, reads only what was not saved, and the tree comes back whole.
        child = await startChild(env);
        const downloaded = await finalState(child.client, 'group-down');
        expect(downloaded['state']).toBe('completed');
        expect(downloaded['result']).toMatchObject({ filesTotal: FILES + 2, filesSaved: FILES + 2, failed: [], size: plaintextTotal });
        const readAfterRestart = new Set(child.events.filter((e) => e.event === 'readRange').map((e) => e.name!));
        expect([...readAfterRestart].filter((name) => savedAtKill.has(name))).toEqual([]);
        expect(readAfterRestart.has(held)).toBe(true);
        expect(await hashTree(path.join(restore, 'tree'))).toEqual(sourceHashes);
        // No temporary of a member in flight at the kill is left.
        expect((await readdir(restore, { recursive: true })).filter((entry) => String(entry).endsWith('.cloudlocker-part'))).toEqual([]);
        // Both listed with their results until acknowledged; the journal is then empty.
        const acknowledged = await child.client.request('acknowledgeTransfers', { transferIds: ['group-up', 'group-down'] });
        expect(acknowledged.acknowledged.sort()).toEqual(['group-down', 'group-up']);
        expect(await readdir(path.join(dataDir, 'transfers'))).toEqual([]);
        await child.kill9();
      },
      240_000,
    );
  });
}

groupScenario('local', () => ({ STORAGE: 'local' }));

let s3rver: RunningS3rver;
describe('with s3rver', () => {
  beforeAll(async () => {
    s3rver = await startS3rver();
  });
  afterAll(async () => {
    await s3rver.stop();
  });
  groupScenario('s3', () => ({ STORAGE: 's3', S3_ENDPOINT: s3rver.endpoint, S3_BUCKET: TEST_BUCKET }));
});
