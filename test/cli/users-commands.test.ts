/**
 * The users commands in process (commander, the client library, a running
 * service found through server.json), with passphrases on standard input:
 * unlock, whoami, publish, contacts, share, export, unshare, lock, and
 * signin on a second device.
 */
import { execFileSync } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import type { Command } from 'commander';
import type { CommandContext } from '../../src/cli/client-command.js';
import { contactsCommand } from '../../src/cli/commands/contacts.js';
import { lockCommand, publishCommand, signinCommand, unlockCommand, whoamiCommand } from '../../src/cli/commands/identity.js';
import { exportCommand, shareCommand, unshareCommand } from '../../src/cli/commands/share.js';
import { createIdentityFile } from '../../src/crypto/age/index.js';
import { LocalStorage } from '../../src/storage/index.js';
import { makeTempDir, type TestServer } from '../helpers/server.js';
import { startTestService } from '../helpers/service.js';

const STRONG = 'violet tractor mango harbour 47 quietly';

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function run(make: (context: CommandContext) => Command, args: string[], dataDir: string, stdinText = ''): Promise<Run> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: string[] = [];
  const err: string[] = [];
  stdout.on('data', (chunk: Buffer) => out.push(chunk.toString('utf8')));
  stderr.on('data', (chunk: Buffer) => err.push(chunk.toString('utf8')));
  const context: CommandContext = { env: {}, streams: { stdout, stderr }, stdin: Readable.from([stdinText]) };
  const previous = process.exitCode;
  process.exitCode = 0;
  try {
    // The command is parsed on its own: args start after its name (a parent's subcommand name stays).
    await make(context).exitOverride().parseAsync(['node', 'cloudlocker', ...args.slice(1), '--data-dir', dataDir, '--json']);
    return { code: Number(process.exitCode ?? 0), stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.exitCode = previous;
  }
}

describe('users commands', () => {
  let dir: string;
  let a: TestServer;
  let b: TestServer;
  beforeAll(async () => {
    dir = await makeTempDir('cloudlocker-users-cli-');
    const store = path.join(dir, 'store');
    a = await startTestService({ storageBackend: new LocalStorage({ directory: store }), identityCopyLogN: 10 });
    b = await startTestService({ storageBackend: new LocalStorage({ directory: store }), identityCopyLogN: 10 });
  });
  afterAll(async () => {
    await a.stop();
    await b.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('unlock, whoami, publish, contacts, share, export, unshare, lock; signin on device B', async () => {
    const keyPath = path.join(dir, 'me.age');
    await createIdentityFile(keyPath, { passphrase: STRONG, scryptLogN: 10 });
    const friend = await createIdentityFile(path.join(dir, 'friend.age'));

    const unlocked = await run(unlockCommand, ['unlock', keyPath, '--passphrase-from-stdin'], a.dataDir, `${STRONG}\n`);
    expect(unlocked).toMatchObject({ code: 0 });
    const me = JSON.parse(unlocked.stdout) as { cardId: string; card: string };
    expect(JSON.parse((await run(whoamiCommand, ['whoami'], a.dataDir)).stdout)).toMatchObject({ cardId: me.cardId, unlocked: true });
    expect(await run(publishCommand, ['publish', 'alice', '--passphrase-from-stdin'], a.dataDir, `${STRONG}\n`)).toMatchObject({ code: 0 });
    expect((await run(publishCommand, ['publish', 'bob', '--passphrase-from-stdin'], a.dataDir, 'password1\n')).code).not.toBe(0);

    expect((await run(contactsCommand, ['contacts', 'add', 'Friend', friend.card], a.dataDir)).code).toBe(0);
    expect(JSON.parse((await run(contactsCommand, ['contacts', 'ls'], a.dataDir)).stdout).contacts).toHaveLength(1);

    const source = path.join(dir, 'doc.txt');
    await writeFile(source, 'for a friend');
    const { connect } = await import('../../src/client/node.js');
    const client = await connect({ dataDir: a.dataDir });
    await client.upload({ path: source });
    await client.close();

    expect(JSON.parse((await run(shareCommand, ['share', 'doc.txt', 'Friend'], a.dataDir)).stdout)).toMatchObject({ recipientCount: 2 });
    const exported = path.join(dir, 'doc.txt.age');
    expect((await run(exportCommand, ['export', 'doc.txt', 'Friend', exported], a.dataDir)).code).toBe(0);
    expect(execFileSync('age', ['-d', '-i', path.join(dir, 'friend.age'), exported]).toString()).toBe('for a friend');
    expect(JSON.parse((await run(unshareCommand, ['unshare', 'doc.txt'], a.dataDir)).stdout)).toMatchObject({ recipientCount: 1 });
    expect((await run(contactsCommand, ['contacts', 'rm', 'friend'], a.dataDir)).code).toBe(0);
    expect(JSON.parse((await run(lockCommand, ['lock'], a.dataDir)).stdout)).toEqual({ wasUnlocked: true });
    expect((await run(whoamiCommand, ['whoami'], a.dataDir)).code).not.toBe(0);

    const keyB = path.join(dir, 'b.age');
    const signedIn = await run(signinCommand, ['signin', 'alice', keyB, '--passphrase-from-stdin'], b.dataDir, `${STRONG}\n`);
    expect(signedIn.code).toBe(0);
    expect(JSON.parse(signedIn.stdout)).toMatchObject({ cardId: me.cardId });
    expect(await readFile(keyB, 'utf8')).toMatch(/AGE-SECRET-KEY-1/);
    // The passphrase went through standard input only: never printed.
    expect(signedIn.stdout + signedIn.stderr + unlocked.stdout + unlocked.stderr).not.toContain(STRONG);
  }, 60_000);
});
