/**
 * A transfer whose key file is passphrase-protected, resumed after kill -9
 * with the unlocked identity (issue 14): the built server runs as a child on
 * a slowed local store (fixtures/slow-server.mjs, as crash-resume uses), an
 * upload and a download started with the unlocked identity are killed
 * mid-way, and after the restart they wait (the server never has the
 * passphrase). Unlocking *another* identity does not resume them without the
 * passphrase (KEY_INVALID, still interrupted); unlocking the same identity
 * does: resumeTransfer without a passphrase finishes both, byte-exact.
 * The same for transfer groups (uploadFolder, downloadFolder): the group's
 * journal record carries the card id too.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createIdentityFile } from '../../src/crypto/age/index.js';
import { ensureBuilt } from '../faults/built-server.js';
import { makeTempDir, type TestClient } from '../helpers/server.js';
import { freePort } from '../helpers/free-port.js';
import { killChildServers, startChildServer, type ChildServer } from '../helpers/child-server.js';

const TOKEN = 'unlocked-resume-token-0123456789abcdef';
const MiB = 1024 * 1024;
const PASSPHRASE = 'a passphrase the server never keeps';

beforeAll(() => ensureBuilt(), 120_000);

let dir: string;
beforeAll(async () => {
  dir = await makeTempDir('cloudlocker-unlocked-resume-');
});
afterAll(async () => {
  killChildServers();
  await rm(dir, { recursive: true, force: true });
});

type Child = ChildServer;

async function startChild(dataDir: string, port: number, env: Record<string, string> = {}): Promise<Child> {
  return startChildServer(TOKEN, { DATA_DIR: dataDir, PORT: String(port), PART_DELAY_MS: '30', STORAGE: 'local', ...env });
}

async function progressed(client: TestClient, transferId: string, counter: 'transferredBytes' | 'cryptoBytes'): Promise<void> {
  await client.waitForNotification(
    (n) => n.method === 'transferProgress' && n.params['transferId'] === transferId && (n.params[counter] as number) > 0,
    20_000,
  );
}

async function stateOf(client: TestClient, transferId: string): Promise<string | undefined> {
  const { transfers } = await client.request('listTransfers', {});
  return transfers.find((t) => t.transferId === transferId)?.state;
}

const sha256 = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');

it('a resume without a passphrase uses the unlocked identity when it is the one the transfer started with, and only then', async () => {
  const dataDir = path.join(dir, 'data');
  const port = await freePort();
  const keyPath = path.join(dir, 'me.age');
  const me = await createIdentityFile(keyPath, { passphrase: PASSPHRASE, scryptLogN: 10 });
  const otherPath = path.join(dir, 'other.age');
  await createIdentityFile(otherPath);
  const upSource = path.join(dir, 'up.bin');
  const downSource = path.join(dir, 'down.bin');
  await writeFile(upSource, randomBytes(6 * MiB));
  await writeFile(downSource, randomBytes(6 * MiB));
  const target = path.join(dir, 'down.out');

  // Run 1: unlock, store down.bin whole, then start an upload (held from its third part on) and a
  // download (held from 3 MiB on), both with the unlocked identity; kill -9 once each has moved.
  let child = await startChild(dataDir, port, { HOLD_NAMES: 'up.bin', HOLD_FROM_PART: '2', HOLD_READS: 'down.bin', HOLD_READS_FROM: String(3 * MiB) });
  await child.client.request('unlock', { keyPath, keyPassphrase: PASSPHRASE });
  await child.client.request('upload', { path: downSource });
  void child.client.call('upload', { path: upSource, transferId: 'up-unlocked' });
  void child.client.call('download', { name: 'down.bin', destination: target, transferId: 'down-unlocked' });
  await progressed(child.client, 'up-unlocked', 'transferredBytes');
  await progressed(child.client, 'down-unlocked', 'cryptoBytes');
  await child.kill9();
  // The journal names the identity by its public card id (and never holds the passphrase).
  for (const id of ['up-unlocked', 'down-unlocked']) {
    const text = await readFile(path.join(dataDir, 'transfers', `${id}.json`), 'utf8');
    expect(JSON.parse(text) as Record<string, { keyCardId?: string; keyPath?: string }>).toMatchObject({
      [id === 'up-unlocked' ? 'upload' : 'download']: { keyCardId: me.cardId, keyPath },
    });
    expect(text).not.toContain(PASSPHRASE);
  }

  // Run 2: locked after the restart, so both wait: the key file needs its passphrase.
  child = await startChild(dataDir, port);
  const { client } = child;
  expect(await stateOf(client, 'up-unlocked')).toBe('interrupted');
  expect(await stateOf(client, 'down-unlocked')).toBe('interrupted');

  // Another identity unlocked: a resume without the passphrase still asks for it, as before.
  await client.request('unlock', { keyPath: otherPath });
  const refused = await client.call('resumeTransfer', { transferId: 'up-unlocked' });
  expect(refused.error).toMatchObject({ code: -32003, data: { reason: 'KEY_INVALID', passphraseRequired: true } });
  expect((await client.call('resumeTransfer', { transferId: 'down-unlocked' })).error?.data?.['reason']).toBe('KEY_INVALID');
  expect(await stateOf(client, 'up-unlocked')).toBe('interrupted');
  expect(await stateOf(client, 'down-unlocked')).toBe('interrupted');

  // The same identity unlocked: no passphrase needed to resume; both finish byte-exact.
  await client.request('unlock', { keyPath, keyPassphrase: PASSPHRASE });
  const uploaded = await client.request('resumeTransfer', { transferId: 'up-unlocked' });
  expect(uploaded).toMatchObject({ transferId: 'up-unlocked', name: 'up.bin', size: 6 * MiB, keyId: me.cardId, keyPath });
  const downloaded = await client.request('resumeTransfer', { transferId: 'down-unlocked' });
  expect(downloaded).toMatchObject({ transferId: 'down-unlocked', name: 'down.bin', size: 6 * MiB });
  expect(await sha256(target)).toBe(await sha256(downSource));
  const check = path.join(dir, 'up.out');
  await client.request('download', { name: 'up.bin', destination: check });
  expect(await sha256(check)).toBe(await sha256(upSource));
  await child.kill9();
}, 90_000);


async function hashTree(root: string): Promise<Record<string, string>> {
  const hashes: Record<string, string> = {};
  for (const entry of (await readdir(root, { recursive: true, withFileTypes: true })).filter((e) => e.isFile())) {
    const file = path.join(entry.parentPath, entry.name);
    hashes[path.relative(root, file)] = await sha256(file);
  }
  return hashes;
}

async function filesDone(client: TestClient, transferId: string, count: number): Promise<void> {
  await client.waitForNotification(
    (n) =>
      n.method === 'transferProgress' &&
      n.params['transferId'] === transferId &&
      ((n.params['group'] as { filesDone: number } | undefined)?.filesDone ?? 0) >= count,
    30_000,
  );
}

it('a folder group resumes with the unlocked identity when it is the one the group started with, and only then', async () => {
  const dataDir = path.join(dir, 'group-data');
  const port = await freePort();
  const keyPath = path.join(dir, 'group-me.age');
  const me = await createIdentityFile(keyPath, { passphrase: PASSPHRASE, scryptLogN: 10 });
  const otherPath = path.join(dir, 'group-other.age');
  await createIdentityFile(otherPath);
  const FILES = 10;
  const upTree = path.join(dir, 'uptree');
  const downTree = path.join(dir, 'downtree');
  for (const tree of [upTree, downTree]) {
    await mkdir(path.join(tree, 'sub'), { recursive: true });
    for (let index = 0; index < FILES; index++) await writeFile(path.join(tree, 'sub', `f${index}.bin`), randomBytes(3000 + index));
  }
  const restore = path.join(dir, 'group-restore');
  await mkdir(restore);

  // Run 1: unlock, store downtree whole, then a folder upload (its last member's writes held) and a
  // folder download (its last member's reads held), both with the unlocked identity; kill -9 part-way.
  let child = await startChild(dataDir, port, { HOLD_NAMES: 'uptree/sub/f9.bin', HOLD_FROM_PART: '0', HOLD_READS: 'downtree/sub/f9.bin', HOLD_READS_FROM: '1' });
  await child.client.request('unlock', { keyPath, keyPassphrase: PASSPHRASE });
  await child.client.request('uploadFolder', { path: downTree });
  void child.client.call('uploadFolder', { path: upTree, transferId: 'group-up-unlocked' });
  void child.client.call('downloadFolder', { name: 'downtree', destination: restore, transferId: 'group-down-unlocked' });
  await filesDone(child.client, 'group-up-unlocked', 3);
  await filesDone(child.client, 'group-down-unlocked', 3);
  await child.kill9();
  for (const id of ['group-up-unlocked', 'group-down-unlocked']) {
    const text = await readFile(path.join(dataDir, 'transfers', `${id}.json`), 'utf8');
    expect(JSON.parse(text) as Record<string, unknown>).toMatchObject({ group: { keyCardId: me.cardId, keyPath } });
    expect(text).not.toContain(PASSPHRASE);
  }

  // Run 2: locked after the restart, so both wait for the passphrase.
  child = await startChild(dataDir, port);
  const { client } = child;
  expect(await stateOf(client, 'group-up-unlocked')).toBe('interrupted');
  expect(await stateOf(client, 'group-down-unlocked')).toBe('interrupted');

  // Another identity unlocked: still KEY_INVALID without the passphrase, and still interrupted.
  await client.request('unlock', { keyPath: otherPath });
  const refused = await client.call('resumeTransfer', { transferId: 'group-up-unlocked' });
  expect(refused.error).toMatchObject({ code: -32003, data: { reason: 'KEY_INVALID', passphraseRequired: true } });
  expect((await client.call('resumeTransfer', { transferId: 'group-down-unlocked' })).error?.data?.['reason']).toBe('KEY_INVALID');
  expect(await stateOf(client, 'group-up-unlocked')).toBe('interrupted');
  expect(await stateOf(client, 'group-down-unlocked')).toBe('interrupted');

  // The same identity unlocked: both resume without the passphrase and finish, byte-exact.
  await client.request('unlock', { keyPath, keyPassphrase: PASSPHRASE });
  const uploaded = await client.request('resumeTransfer', { transferId: 'group-up-unlocked' });
  expect(uploaded).toMatchObject({ transferId: 'group-up-unlocked', filesTotal: FILES, filesStored: FILES, failed: [] });
  const downloaded = await client.request('resumeTransfer', { transferId: 'group-down-unlocked' });
  expect(downloaded).toMatchObject({ transferId: 'group-down-unlocked', filesTotal: FILES, filesSaved: FILES, failed: [] });
  expect(await hashTree(path.join(restore, 'downtree'))).toEqual(await hashTree(downTree));
  const check = path.join(dir, 'group-check');
  await mkdir(check);
  await client.request('downloadFolder', { name: 'uptree', destination: check });
  expect(await hashTree(path.join(check, 'uptree'))).toEqual(await hashTree(upTree));
  await child.kill9();
}, 120_000);
