/**
 * A resumed upload re-encrypts parts under the nonces it used before the
 * restart, so it must refuse a source whose content changed even when its
 * size and mtime did not (a tool that restores mtimes, a same-size rewrite
 * within the clock's resolution): the parts it checks must seal to the
 * tags journaled for them (AES-GCM for a v1 key, ChaCha20-Poly1305 for an age
 * identity: the suite runs for both key formats).
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { open, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LocalStorage } from '../../src/storage/local/local-storage.js';
import { makeTempDir, openClient, type TestServer } from '../helpers/server.js';
import { slowStorage, startTestService } from '../helpers/service.js';
import { KEY_FORMATS } from '../helpers/key-formats.js';

const MiB = 1024 * 1024;
/** Large enough, with the slowed store, that a shutdown always catches the upload before its end. */
const SIZE = 32 * MiB;

describe.each(KEY_FORMATS)('resuming an upload whose source changed behind an unchanged size and mtime ($title)', (keyFormat) => {
  let dir: string;
  let dataDir: string;
  let server: TestServer | undefined;

  beforeEach(async () => {
    dir = await makeTempDir('cloudlocker-changed-resume-');
    dataDir = path.join(dir, 'data');
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  const start = () =>
    startTestService({
      dataDir,
      resumeOnStart: false,
      storageBackend: slowStorage(new LocalStorage({ directory: path.join(dataDir, 'store') }), 50),
    });

  async function interruptedUpload(source: string, keyPath: string, transferId: string): Promise<void> {
    server = await start();
    const client = await openClient(server);
    // Its answer (CANCELLED, interrupted) is not awaited: a shutdown may close the connection first.
    void client.call('upload', { path: source, keyPath, name: `${transferId}.bin`, transferId });
    await client.waitForNotification(
      (n) => n.method === 'transferProgress' && n.params['transferId'] === transferId && (n.params['transferredBytes'] as number) > 0,
    );
    await server.close();
    server = undefined;
  }

  it('refuses with SOURCE_CHANGED when a part stored before the restart changed, and resumes an untouched source', async () => {
    const keyPath = path.join(dir, keyFormat.fileName);
    await keyFormat.create(keyPath);
    const source = path.join(dir, 'file.bin');
    await writeFile(source, randomBytes(SIZE));
    // A whole second, so that putting it back after the change restores it exactly.
    await utimes(source, 1_700_000_000, 1_700_000_000);
    const untouched = path.join(dir, 'untouched.bin');
    const untouchedContent = randomBytes(SIZE);
    await writeFile(untouched, untouchedContent);

    await interruptedUpload(source, keyPath, 'changed');
    await interruptedUpload(untouched, keyPath, 'untouched');

    // New bytes in part 0 (stored before the interruption), same size, and the mtime put back as it was.
    const before = await stat(source);
    const handle = await open(source, 'r+');
    await handle.write(randomBytes(4096), 0, 4096, 0);
    await handle.close();
    await utimes(source, 1_700_000_000, 1_700_000_000);
    expect((await stat(source)).mtimeMs).toBe(before.mtimeMs);

    server = await start();
    const client = await openClient(server);
    const interrupted = (await client.request('listTransfers', {})).transfers.filter((t) => t.state === 'interrupted');
    expect(interrupted.map((t) => t.transferId).sort()).toEqual(['changed', 'untouched']);
    const refused = await client.call('resumeTransfer', { transferId: 'changed' });
    expect(refused.error?.data?.['reason']).toBe('SOURCE_CHANGED');
    expect((await client.request('listFiles', {})).files.map((f) => f.name)).not.toContain('changed.bin');

    await client.request('resumeTransfer', { transferId: 'untouched' });
    const target = path.join(dir, 'back.bin');
    await client.request('download', { name: 'untouched.bin', keyPath, destination: target });
    const digest = (data: Buffer) => createHash('sha256').update(data).digest('hex');
    expect(digest(await readFile(target))).toBe(digest(untouchedContent));
    expect(await client.request('getFileInfo', { name: 'untouched.bin' })).toMatchObject({ format: keyFormat.stored });
  }, 60_000);
});
