/**
 * The CLI's upload and download (files and folders) without --key while an
 * identity is unlocked in the service, in process (commander, the client
 * library, a service found through server.json): an explicit --key still
 * wins, a mistyped --key still creates no key, and with no identity
 * unlocked the command fails with LOCKED (exit 4) naming `cloudlocker unlock`.
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import type { Command } from 'commander';
import type { CommandContext } from '../../src/cli/client-command.js';
import { downloadCommand } from '../../src/cli/commands/download.js';
import { lockCommand, unlockCommand } from '../../src/cli/commands/identity.js';
import { uploadCommand } from '../../src/cli/commands/upload.js';
import { createIdentityFile } from '../../src/crypto/age/index.js';
import { LocalStorage } from '../../src/storage/index.js';
import { makeTempDir, type TestServer } from '../helpers/server.js';
import { startTestService } from '../helpers/service.js';

const PASSPHRASE = 'violet tractor mango harbour 47 quietly';

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function run(make: (context: CommandContext) => Command, args: string[], dataDir: string, options: { stdin?: string; json?: boolean } = {}): Promise<Run> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: string[] = [];
  const err: string[] = [];
  stdout.on('data', (chunk: Buffer) => out.push(chunk.toString('utf8')));
  stderr.on('data', (chunk: Buffer) => err.push(chunk.toString('utf8')));
  const context: CommandContext = { env: {}, streams: { stdout, stderr }, stdin: Readable.from([options.stdin ?? '']) };
  const previous = process.exitCode;
  process.exitCode = 0;
  try {
    const transfer = args[0] === 'upload' || args[0] === 'download';
    const flags = ['--data-dir', dataDir, ...(transfer ? ['--no-progress'] : []), ...(options.json === false ? [] : ['--json'])];
    await make(context).exitOverride().parseAsync(['node', 'cloudlocker', ...args.slice(1), ...flags]);
    return { code: Number(process.exitCode ?? 0), stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.exitCode = previous;
  }
}

describe('upload and download without --key', () => {
  let dir: string;
  let service: TestServer;
  let keyPath: string;
  let cardId: string;

  beforeAll(async () => {
    dir = await makeTempDir('cloudlocker-unlocked-cli-');
    service = await startTestService({ storageBackend: new LocalStorage({ directory: path.join(dir, 'store') }) });
    keyPath = path.join(dir, 'me.age');
    // Protected: the commands below never need its passphrase, only unlock does.
    ({ cardId } = await createIdentityFile(keyPath, { passphrase: PASSPHRASE, scryptLogN: 10 }));
  });
  afterAll(async () => {
    await service.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('locked: LOCKED (exit 4) naming cloudlocker unlock; nothing stored, no key created', async () => {
    const source = path.join(dir, 'early.txt');
    await writeFile(source, 'too early');
    const upload = await run(uploadCommand, ['upload', source], service.dataDir, { json: false });
    expect(upload.code).toBe(4);
    expect(upload.stdout).toBe('');
    expect(upload.stderr).toBe('cloudlocker: No identity is unlocked to upload: unlock one first (cloudlocker unlock), or give --key.\n');
    const download = await run(downloadCommand, ['download', 'early.txt', '--to', path.join(dir, 'early.out')], service.dataDir);
    expect(download.code).toBe(4);
    expect(JSON.parse(download.stderr)).toMatchObject({ type: 'error', exitCode: 4, reason: 'LOCKED' });
    const tree = path.join(dir, 'early-tree');
    await mkdir(tree);
    await writeFile(path.join(tree, 'a.txt'), 'a');
    const folder = await run(uploadCommand, ['upload', tree], service.dataDir);
    expect(JSON.parse(folder.stderr)).toMatchObject({ exitCode: 4, reason: 'LOCKED' });
    expect((await readdir(dir)).sort()).toEqual(['early-tree', 'early.txt', 'me.age', 'store']);
    expect(await readdir(tree)).toEqual(['a.txt']);
    expect((await readdir(path.join(dir, 'store'))).filter((entry) => !entry.startsWith('.'))).toEqual([]);
  });

  it('unlocked: files and folders go up and come back without --key; --key still wins; a mistyped --key creates no key', async () => {
    const unlocked = await run(unlockCommand, ['unlock', keyPath, '--passphrase-from-stdin'], service.dataDir, { stdin: `${PASSPHRASE}\n` });
    expect(unlocked.code).toBe(0);

    const source = path.join(dir, 'note.txt');
    await writeFile(source, 'no key flag needed');
    const up = await run(uploadCommand, ['upload', source], service.dataDir);
    expect(up.code).toBe(0);
    expect(JSON.parse(up.stdout)).toMatchObject({ name: 'note.txt', keyId: cardId, keyPath, keyCreated: false });
    const out = path.join(dir, 'note.out');
    const down = await run(downloadCommand, ['download', 'note.txt', '--to', out], service.dataDir);
    expect(down.code).toBe(0);
    expect(JSON.parse(down.stdout)).toMatchObject({ author: { kind: 'self', cardId } });
    expect(await readFile(out, 'utf8')).toBe('no key flag needed');

    // A folder, both ways, in human output.
    const tree = path.join(dir, 'files', 'album');
    await mkdir(path.join(tree, 'inner'), { recursive: true });
    await writeFile(path.join(tree, 'one.txt'), 'one');
    await writeFile(path.join(tree, 'inner', 'two.txt'), 'two');
    const folderUp = await run(uploadCommand, ['upload', tree], service.dataDir, { json: false });
    expect(folderUp).toMatchObject({ code: 0, stderr: '' });
    expect(folderUp.stdout).toContain(`Uploaded ${tree} as album/: 2 of 2 files`);
    expect(folderUp.stdout).toContain(`key ${keyPath} (key id ${cardId})`);
    const restored = path.join(dir, 'restored');
    const folderDown = await run(downloadCommand, ['download', 'album/', '--to', `${restored}/`, '--create-dirs'], service.dataDir, { json: false });
    expect(folderDown).toMatchObject({ code: 0, stderr: '' });
    expect(await readFile(path.join(restored, 'album', 'inner', 'two.txt'), 'utf8')).toBe('two');

    // An explicit --key wins over the unlocked identity.
    const other = path.join(dir, 'other.age');
    const otherCard = await createIdentityFile(other);
    const theirs = await run(uploadCommand, ['upload', source, '--key', other, '--name', 'theirs.txt'], service.dataDir);
    expect(JSON.parse(theirs.stdout)).toMatchObject({ keyId: otherCard.cardId, keyPath: other });
    const notMine = await run(downloadCommand, ['download', 'theirs.txt', '--to', path.join(dir, 'theirs.out')], service.dataDir);
    expect(JSON.parse(notMine.stderr)).toMatchObject({ exitCode: 4, reason: 'NOT_A_RECIPIENT' });
    expect((await run(downloadCommand, ['download', 'theirs.txt', '--to', path.join(dir, 'theirs.out'), '--key', other], service.dataDir)).code).toBe(0);

    // A typo in --key is still an error while unlocked: no new key, nothing stored, no fallback to the unlocked identity.
    const typo = path.join(dir, 'me.aeg');
    const mistyped = await run(uploadCommand, ['upload', source, '--key', typo, '--name', 'typo.txt'], service.dataDir);
    expect(JSON.parse(mistyped.stderr)).toMatchObject({ exitCode: 3 });
    expect(await readdir(dir)).not.toContain('me.aeg');
    const stored = await run(downloadCommand, ['download', 'typo.txt', '--to', path.join(dir, 'typo.out')], service.dataDir);
    expect(JSON.parse(stored.stderr)).toMatchObject({ reason: 'NOT_FOUND' });

    expect(JSON.parse((await run(lockCommand, ['lock'], service.dataDir)).stdout)).toEqual({ wasUnlocked: true });
    const afterLock = await run(downloadCommand, ['download', 'note.txt', '--to', path.join(dir, 'late.out')], service.dataDir);
    expect(JSON.parse(afterLock.stderr)).toMatchObject({ exitCode: 4, reason: 'LOCKED' });
    expect(await readdir(dir)).not.toContain('late.out');
  }, 60_000);
});
