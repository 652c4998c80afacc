/**
 * Key files, what each refusal says and where the limits are: every way a
 * key file can be malformed gets its own message (a user fixing a file by
 * hand is told which member is wrong), the size limit and the parser's
 * ranges at their edges, and how a new key file reaches the disk (flushed
 * before it gets its name, the folder flushed after, mode 0600 whatever the
 * umask, no file descriptor left open, nothing touched when the name is
 * taken). Written against the mutation run of src/crypto/key-file.ts
 * (docs/testing.md, fifth pass); test/crypto/key-file.test.ts has the
 * behaviour in the large.
 */
import fsCallbacks, { readlinkSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createKeyFile, describeKeyFile, inspectKeyFile, MAX_KEY_FILE_SIZE, parseKeyFile, readKeyFile } from '../../src/crypto/index.js';
import { InvalidParamsError } from '../../src/errors.js';
import { catchReasonAsync } from './helpers.js';

const posix = process.platform !== 'win32';
const linux = process.platform === 'linux';
const itOnPosix = posix ? it : it.skip;
const itOnLinux = linux ? it : it.skip;
const PREFIX = 'The key file could not be used: ';

let dir: string;
let counter = 0;
const fresh = (name = 'key') => path.join(dir, `${name}-${++counter}.json`);

function systemError(code: string, syscall: string, file: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: simulated, ${syscall} '${file}'`), { code, syscall, path: file });
}

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cloudlocker-keyfile-refusals-'));
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

afterEach(() => {
  jest.restoreAllMocks();
});

async function keyInvalidMessage(file: string, options: { passphrase?: string } = {}): Promise<string> {
  const error = await catchReasonAsync(() => readKeyFile(file, options), 'KEY_INVALID');
  expect(error.message.startsWith(PREFIX)).toBe(true);
  return error.message.slice(PREFIX.length);
}

async function written(contents: string | Buffer): Promise<string> {
  const file = fresh('bad');
  await fs.writeFile(file, contents);
  return file;
}

describe('a malformed key file: KEY_INVALID saying what is wrong', () => {
  let valid: Record<string, unknown>;

  beforeAll(async () => {
    const target = fresh('valid');
    await createKeyFile(target);
    valid = JSON.parse(await fs.readFile(target, 'utf8')) as Record<string, unknown>;
  });

  const NOT_JSON = 'it is not valid JSON (it may be truncated or damaged).';
  const NOT_KEY_FILE = 'it is not a cloudlocker key file (no "type": "cloudlocker-key").';
  const versionMessage = (version: string) => `it is key file version ${version}; this version of cloudlocker reads version 1.`;
  const KEY_ID = 'its "keyId" is missing or is not 32 lowercase hex digits.';
  const CREATED_AT = 'its "createdAt" is missing or is not a date.';
  const ONE_OF = 'it must hold exactly one of "key" and "wrappedKey".';
  const KEY = 'its "key" is not base64 of 32 bytes.';
  const with_ = (change: Record<string, unknown>) => (v: Record<string, unknown>) => JSON.stringify({ ...v, ...change });
  const without = (member: string) => (v: Record<string, unknown>) => JSON.stringify({ ...v, [member]: undefined });

  const cases: Array<[string, (valid: Record<string, unknown>) => string, string]> = [
    ['empty', () => '', NOT_JSON],
    ['a byte-order mark alone', () => '\uFEFF', NOT_JSON],
    ['not JSON', () => 'hello', NOT_JSON],
    ['JSON null', () => 'null', NOT_KEY_FILE],
    ['a JSON array', (v) => JSON.stringify([v]), NOT_KEY_FILE],
    ['a JSON number', () => '42', NOT_KEY_FILE],
    ['another type', with_({ type: 'ssh-key' }), NOT_KEY_FILE],
    ['no type', without('type'), NOT_KEY_FILE],
    ['version 2', with_({ version: 2 }), versionMessage('2')],
    ['version 0', with_({ version: 0 }), versionMessage('0')],
    ['version "1" (a string)', with_({ version: '1' }), versionMessage('unknown')],
    ['version 1.5', with_({ version: 1.5 }), versionMessage('unknown')],
    ['version 2^53', with_({ version: 2 ** 53 }), versionMessage('unknown')],
    ['no version', without('version'), versionMessage('unknown')],
    ['no keyId', without('keyId'), KEY_ID],
    ['keyId in capitals', (v) => JSON.stringify({ ...v, keyId: (v.keyId as string).toUpperCase() }), KEY_ID],
    // String(["ab…"]) is the hex itself: only the type check tells.
    ['keyId as an array holding the hex', (v) => JSON.stringify({ ...v, keyId: [v.keyId] }), KEY_ID],
    ['keyId of another key', with_({ keyId: 'ab'.repeat(16) }), 'its "keyId" does not match its key: the file was edited or damaged.'],
    ['no createdAt', without('createdAt'), CREATED_AT],
    ['createdAt not a date', with_({ createdAt: 'yesterday' }), CREATED_AT],
    // Date.parse("12345") is the year 12345: only the type check tells.
    ['createdAt as a number', with_({ createdAt: 12345 }), CREATED_AT],
    ['neither key nor wrappedKey', without('key'), ONE_OF],
    ['both key and wrappedKey', with_({ wrappedKey: { kdf: 'scrypt' } }), ONE_OF],
    ['key null', with_({ key: null }), KEY],
    ['key a number', with_({ key: 12345 }), KEY],
    // "1234" has the form of base64: only the type check keeps it from Buffer.from (a TypeError).
    ['key the number 1234', with_({ key: 1234 }), KEY],
    ['key of 31 bytes', with_({ key: Buffer.alloc(31, 1).toString('base64') }), KEY],
    ['key of 33 bytes', with_({ key: Buffer.alloc(33, 1).toString('base64') }), KEY],
    ['key without its padding', (v) => JSON.stringify({ ...v, key: (v.key as string).replace(/=+$/, '') }), KEY],
    ['key with a space before it', (v) => JSON.stringify({ ...v, key: ` ${v.key as string}` }), KEY],
  ];

  it.each(cases)('%s', async (_name, make, message) => {
    expect(await keyInvalidMessage(await written(make(valid)))).toBe(message);
  });

  it('inspectKeyFile refuses the same way, without unwrapping anything', async () => {
    const file = await written(with_({ createdAt: 12345 })(valid));
    const refused = await catchReasonAsync(() => inspectKeyFile(file), 'KEY_INVALID');
    expect(refused.message).toBe(PREFIX + CREATED_AT);
  });

  it('a byte-order mark before a valid file is skipped; a file without one keeps its first character', async () => {
    const text = JSON.stringify(valid);
    expect((await readKeyFile(await written(`\uFEFF${text}`))).keyId).toBe(valid.keyId);
    expect((await readKeyFile(await written(text))).keyId).toBe(valid.keyId);
  });

  it('the text functions (parseKeyFile, describeKeyFile) skip a leading byte-order mark themselves', async () => {
    // Reading a file, the UTF-8 decoder already drops it; text handed over by a caller keeps it.
    const text = `\uFEFF${JSON.stringify(valid)}`;
    expect((await parseKeyFile(text)).keyId).toBe(valid.keyId);
    expect(describeKeyFile(text)).toEqual({ keyId: valid.keyId, createdAt: valid.createdAt, passphraseProtected: false });
    expect(() => describeKeyFile(`${JSON.stringify(valid)}\uFEFF`)).toThrow(PREFIX + NOT_JSON);
  });

  it('bytes that are not UTF-8', async () => {
    expect(await keyInvalidMessage(await written(Buffer.from([0x7b, 0xff, 0xfe, 0x7d])))).toBe('it is not UTF-8 text (it may be damaged).');
  });

  it('the size limit: exactly MAX_KEY_FILE_SIZE bytes are read; one more byte, or far more, is refused unparsed', async () => {
    const text = JSON.stringify(valid);
    const padded = (size: number) => text + ' '.repeat(size - Buffer.byteLength(text));
    expect((await readKeyFile(await written(padded(MAX_KEY_FILE_SIZE)))).keyId).toBe(valid.keyId);
    const tooLarge = 'it is larger than 64 KiB, far too large to be a key file.';
    expect(await keyInvalidMessage(await written(padded(MAX_KEY_FILE_SIZE + 1)))).toBe(tooLarge);
    expect(await keyInvalidMessage(await written(padded(4 * MAX_KEY_FILE_SIZE)))).toBe(tooLarge);
  });
});

describe('what is at the path is not a key file', () => {
  it('a folder', async () => {
    // Linux and macOS open a folder and fstat tells; Windows refuses to open it (EISDIR, below).
    expect(await keyInvalidMessage(dir)).toBe(posix ? 'the path does not name a regular file.' : 'the path names a folder, not a key file.');
  });

  it('a folder refused by open() (as on Windows: EISDIR)', async () => {
    jest.spyOn(fs, 'open').mockImplementation(async (file) => {
      throw systemError('EISDIR', 'open', String(file));
    });
    expect(await keyInvalidMessage(path.join(dir, 'folder'))).toBe('the path names a folder, not a key file.');
  });

  it('a folder that opens but refuses to be read (EISDIR from read) is a folder, not an unreadable file', async () => {
    const target = await written('{}');
    const realOpen = fs.open;
    jest.spyOn(fs, 'open').mockImplementation(async (...args: Parameters<typeof fs.open>) => {
      const handle = await realOpen(...args);
      jest.spyOn(handle, 'read').mockImplementation(async () => {
        throw systemError('EISDIR', 'read', target);
      });
      return handle;
    });
    expect(await keyInvalidMessage(target)).toBe('the path names a folder, not a key file.');
  });

  // Opened without O_NONBLOCK, a named pipe holds the read until a writer appears: the test opens
  // one after two seconds to free the blocked thread, and fails.
  itOnPosix(`a named pipe is refused at once, without waiting for a writer${posix ? '' : ' [skipped: no mkfifo on Windows]'}`, async () => {
    const { execFileSync } = await import('node:child_process');
    const fifo = path.join(dir, `pipe-${++counter}.json`);
    execFileSync('mkfifo', [fifo]);
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<'waited'>((resolve) => {
      timer = setTimeout(() => resolve('waited'), 2_000);
    });
    const reading = keyInvalidMessage(fifo);
    const first = await Promise.race([reading, waited]);
    clearTimeout(timer);
    if (first === 'waited') {
      const writer = await fs.open(fifo, 'w');
      await writer.close();
      await reading.catch(() => undefined);
    }
    expect(first).toBe('the path does not name a regular file.');
  });

  itOnPosix(`a loop of symbolic links${posix ? '' : ' [skipped: symbolic links need privileges on Windows]'}`, async () => {
    await fs.symlink(path.join(dir, 'loop-b'), path.join(dir, 'loop-a'));
    await fs.symlink(path.join(dir, 'loop-a'), path.join(dir, 'loop-b'));
    expect(await keyInvalidMessage(path.join(dir, 'loop-a'))).toBe('the path is a loop of symbolic links, not a key file.');
  });

  itOnLinux(`a file the system cannot read names the system's answer${linux ? '' : ' [skipped: /proc/self/mem is Linux]'}`, async () => {
    expect(await keyInvalidMessage('/proc/self/mem')).toBe('it could not be read: the operating system answered EIO.');
  });

  it('a failure that is no system error is passed on as it is (an internal error, not a key problem)', async () => {
    const failure = new Error('not a system error');
    jest.spyOn(fs, 'open').mockImplementation(async () => {
      throw failure;
    });
    await expect(readKeyFile(path.join(dir, 'anything.json'))).rejects.toBe(failure);
  });

  it('a missing file is NOT_FOUND naming the key file', async () => {
    const error = await catchReasonAsync(() => readKeyFile(path.join(dir, 'missing.json')), 'NOT_FOUND');
    expect(error.message).toBe('The key file does not exist: check the path.');
  });
});

describe('a passphrase-protected key file: the wrapped key is checked before scrypt runs', () => {
  const passphrase = 'correct horse battery staple';
  let json: Record<string, unknown>;
  let wrapped: Record<string, unknown>;

  beforeAll(async () => {
    const target = fresh('protected');
    await createKeyFile(target, { passphrase });
    json = JSON.parse(await fs.readFile(target, 'utf8')) as Record<string, unknown>;
    wrapped = json.wrappedKey as Record<string, unknown>;
  });

  const malformed = (what: string) => `its "wrappedKey" is malformed (${what}).`;
  const PARAMS = malformed('scrypt parameters outside the accepted range');
  const SALT = malformed('"salt" must be base64 of 16 to 64 bytes');
  const b64 = (length: number) => Buffer.alloc(length, 5).toString('base64');

  it.each([
    ['null', () => null, malformed('not an object')],
    ['a string', () => 'x', malformed('not an object')],
    ['an array', () => [], malformed('not an object')],
    ['kdf argon2id', (w: Record<string, unknown>) => ({ ...w, kdf: 'argon2id' }), malformed('"kdf" must be "scrypt"')],
    ['no kdf', (w: Record<string, unknown>) => ({ ...w, kdf: undefined }), malformed('"kdf" must be "scrypt"')],
    ['N as a string', (w: Record<string, unknown>) => ({ ...w, N: '32768' }), PARAMS],
    ['r as a string', (w: Record<string, unknown>) => ({ ...w, r: '8' }), PARAMS],
    ['p as a string', (w: Record<string, unknown>) => ({ ...w, p: '1' }), PARAMS],
    ['N below 2^15', (w: Record<string, unknown>) => ({ ...w, N: 1024 }), PARAMS],
    ['p of 100', (w: Record<string, unknown>) => ({ ...w, p: 100 }), PARAMS],
    ['a salt of 15 bytes', (w: Record<string, unknown>) => ({ ...w, salt: b64(15) }), SALT],
    ['a salt of 65 bytes', (w: Record<string, unknown>) => ({ ...w, salt: b64(65) }), SALT],
    ['a salt that is not a string', (w: Record<string, unknown>) => ({ ...w, salt: 7 }), SALT],
    ['a nonce of 16 bytes', (w: Record<string, unknown>) => ({ ...w, nonce: b64(16) }), malformed('"nonce" must be base64 of 12 bytes')],
    ['a nonce of 11 bytes', (w: Record<string, unknown>) => ({ ...w, nonce: b64(11) }), malformed('"nonce" must be base64 of 12 bytes')],
    ['a ciphertext of 32 bytes', (w: Record<string, unknown>) => ({ ...w, ciphertext: b64(32) }), malformed('"ciphertext" must be base64 of 48 bytes')],
    ['a ciphertext of 49 bytes', (w: Record<string, unknown>) => ({ ...w, ciphertext: b64(49) }), malformed('"ciphertext" must be base64 of 48 bytes')],
  ] as Array<[string, (w: Record<string, unknown>) => unknown, string]>)('wrappedKey with %s', async (_name, change, message) => {
    const file = await written(JSON.stringify({ ...json, wrappedKey: change(wrapped) }));
    expect(await keyInvalidMessage(file, { passphrase })).toBe(message);
  });

  it('salts of 16 and of 64 bytes are within the format (the file is described, not refused)', async () => {
    for (const length of [16, 64]) {
      const file = await written(JSON.stringify({ ...json, wrappedKey: { ...wrapped, salt: b64(length) } }));
      await expect(inspectKeyFile(file)).resolves.toEqual({ keyId: json.keyId, createdAt: json.createdAt, passphraseProtected: true });
    }
  });

  it('a passphrase given for a file without one is ignored', async () => {
    const plain = fresh('plain');
    const created = await createKeyFile(plain);
    expect((await readKeyFile(plain, { passphrase: 'not needed' })).keyId).toBe(created.keyId);
    await expect(inspectKeyFile(plain)).resolves.toEqual({
      keyId: created.keyId,
      createdAt: expect.any(String),
      passphraseProtected: false,
    });
  });
});

describe('createKeyFile: how the file reaches the disk', () => {
  it('an empty passphrase is an invalid "passphrase" parameter, and nothing is written', async () => {
    const target = fresh();
    const error = await createKeyFile(target, { passphrase: '' }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(InvalidParamsError);
    expect(error).toMatchObject({
      param: 'passphrase',
      message: 'The passphrase must not be empty: omit it for a key file without a passphrase.',
    });
    await expect(fs.lstat(target)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a taken name is refused before anything is written or any key is derived, with the same message as a late refusal', async () => {
    const MESSAGE = 'A file already exists at the key file path; it was left untouched: choose another path.';
    const target = fresh();
    await fs.writeFile(target, 'precious');
    const open = jest.spyOn(fs, 'open');
    const early = await catchReasonAsync(() => createKeyFile(target, { passphrase: 'p' }), 'ALREADY_EXISTS');
    expect(early.message).toBe(MESSAGE);
    expect(open).not.toHaveBeenCalled();
    jest.restoreAllMocks();

    // The name taken between the early check and the link (lstat made to miss it).
    const realLstat = fs.lstat;
    jest.spyOn(fs, 'lstat').mockImplementation(async (file, ...rest) => {
      if (path.resolve(String(file)) === path.resolve(target)) throw systemError('ENOENT', 'lstat', String(file));
      return realLstat(file, ...(rest as []));
    });
    const late = await catchReasonAsync(() => createKeyFile(target), 'ALREADY_EXISTS');
    expect(late.message).toBe(MESSAGE);
    expect(await fs.readFile(target, 'utf8')).toBe('precious');
  });

  itOnPosix(`a dangling symbolic link at the path counts as taken (it is not followed)${posix ? '' : ' [skipped: symbolic links need privileges on Windows]'}`, async () => {
    const target = fresh('dangling');
    const pointee = fresh('pointee');
    await fs.symlink(pointee, target);
    await catchReasonAsync(() => createKeyFile(target), 'ALREADY_EXISTS');
    await expect(fs.lstat(pointee)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a folder that cannot be looked into is PERMISSION_DENIED, and nothing is written', async () => {
    const target = fresh();
    jest.spyOn(fs, 'lstat').mockImplementation(async (file) => {
      throw systemError('EACCES', 'lstat', String(file));
    });
    const open = jest.spyOn(fs, 'open');
    const error = await catchReasonAsync(() => createKeyFile(target), 'PERMISSION_DENIED');
    expect(error.message).toBe('The operating system refused access to the folder for the key file: check its permissions.');
    expect(open).not.toHaveBeenCalled();
  });

  it('a missing folder is NOT_FOUND naming the folder', async () => {
    const error = await catchReasonAsync(() => createKeyFile(path.join(dir, 'no-such-folder', 'key.json')), 'NOT_FOUND');
    expect(error.message).toBe('The folder for the key file does not exist: check the path.');
  });

  it('a temporary that cannot be created is reported for the folder (NO_SPACE), and nothing is left', async () => {
    const target = fresh();
    jest.spyOn(fs, 'open').mockImplementation(async (file) => {
      throw systemError('ENOSPC', 'open', String(file));
    });
    const error = await catchReasonAsync(() => createKeyFile(target), 'NO_SPACE');
    expect(error.message).toBe('There is no space left to write the folder for the key file: free some space and try again.');
  });

  it('a failure while writing the temporary is reported for the key file, and the temporary is removed', async () => {
    const target = fresh('nospace');
    const realOpen = fs.open;
    jest.spyOn(fs, 'open').mockImplementation(async (...args: Parameters<typeof fs.open>) => {
      const handle = await realOpen(...args);
      jest.spyOn(handle, 'writeFile').mockImplementation(async () => {
        throw systemError('ENOSPC', 'write', String(args[0]));
      });
      return handle;
    });
    const error = await catchReasonAsync(() => createKeyFile(target), 'NO_SPACE');
    expect(error.message).toBe('There is no space left to write the key file: free some space and try again.');
    jest.restoreAllMocks();
    expect((await fs.readdir(dir)).filter((name) => name.startsWith(`.${path.basename(target)}.`))).toEqual([]);
    await expect(fs.lstat(target)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  itOnPosix(`is mode 0600 even when the umask would take the owner's write bit${posix ? '' : ' [skipped: no modes on Windows]'}`, async () => {
    const target = fresh();
    const previous = process.umask(0o277);
    try {
      await createKeyFile(target);
    } finally {
      process.umask(previous);
    }
    expect((await fs.stat(target)).mode & 0o777).toBe(0o600);
  });

  itOnLinux(
    `flushes the content before giving it its name and the folder after; the temporary is named after the target${linux ? '' : ' [skipped: reads /proc/self/fd]'}`,
    async () => {
      const target = fresh('durable');
      const events: string[] = [];
      // FileHandle is not exported: take its prototype from a handle.
      const probe = await fs.open(target + '.probe', 'w');
      const prototype = Object.getPrototypeOf(probe) as { sync: () => Promise<void> };
      await probe.close();
      const realSync = prototype.sync;
      jest.spyOn(prototype, 'sync').mockImplementation(async function (this: { fd: number }) {
        events.push(`sync ${readlinkSync(`/proc/self/fd/${this.fd}`)}`);
        return realSync.call(this);
      });
      // A directory is opened and fsynced through the descriptor API (src/fs/durable-fs.ts).
      const realFsync = fsCallbacks.fsync;
      jest.spyOn(fsCallbacks, 'fsync').mockImplementation(((fd: number, callback: (err: NodeJS.ErrnoException | null) => void) => {
        events.push(`sync ${readlinkSync(`/proc/self/fd/${fd}`)}`);
        return realFsync(fd, callback);
      }) as typeof fsCallbacks.fsync);
      const realLink = fs.link;
      jest.spyOn(fs, 'link').mockImplementation(async (from, to) => {
        events.push(`link ${String(from)} -> ${String(to)}`);
        return realLink(from, to);
      });
      await createKeyFile(target);
      const resolvedDir = await fs.realpath(dir);
      const temporary = events.find((event) => event.startsWith('link '))!.slice('link '.length).split(' -> ')[0]!;
      expect(path.basename(temporary)).toMatch(new RegExp(`^\\.${path.basename(target).replace(/\./g, '\\.')}\\.[0-9a-f]{16}\\.tmp$`));
      expect(path.dirname(temporary)).toBe(dir);
      expect(events).toEqual([
        `sync ${path.join(resolvedDir, path.basename(temporary))}`,
        `link ${temporary} -> ${path.resolve(target)}`,
        `sync ${resolvedDir}`,
      ]);
    },
  );

  itOnLinux(`leaves no file descriptor open, written or refused${linux ? '' : ' [skipped: counts /proc/self/fd]'}`, async () => {
    const openFds = async () => (await fs.readdir('/proc/self/fd')).length;
    const before = await openFds();
    for (let i = 0; i < 5; i++) {
      const target = fresh('fds');
      await createKeyFile(target);
      await readKeyFile(target);
      await catchReasonAsync(() => readKeyFile(dir), 'KEY_INVALID');
    }
    expect(await openFds()).toBe(before);
  });

  it('with a passphrase, the file holds the wrapped key and not the key: it opens only with the passphrase', async () => {
    // Inside the test, not a beforeAll: the mutation run attributes coverage to the test that runs it.
    const target = fresh('wrapped');
    const created = await createKeyFile(target, { passphrase: 'open sesame' });
    const json = JSON.parse(await fs.readFile(target, 'utf8')) as Record<string, unknown>;
    expect(Object.keys(json)).toEqual(['type', 'version', 'keyId', 'createdAt', 'wrappedKey']);
    expect(await keyInvalidMessage(target)).toBe('it is protected by a passphrase: provide the passphrase.');
    expect((await readKeyFile(target, { passphrase: 'open sesame' })).keyId).toBe(created.keyId);
  });

  it('without a clock given, createdAt is now', async () => {
    const before = Date.now();
    const created = await createKeyFile(fresh());
    const { createdAt } = await inspectKeyFile(created.path);
    expect(Date.parse(createdAt)).toBeGreaterThanOrEqual(before - 1);
    expect(Date.parse(createdAt)).toBeLessThanOrEqual(Date.now());
    expect(created.path).toBe(path.resolve(created.path));
  });
});

describe('the key file\'s bytes and the key are zeroed once used', () => {
  /** Every Buffer filled with 0 while `action` runs, as it was just before. */
  async function zeroed(action: () => Promise<unknown>): Promise<Buffer[]> {
    const before: Buffer[] = [];
    const realFill = Buffer.prototype.fill;
    const spy = jest.spyOn(Buffer.prototype, 'fill').mockImplementation(function (this: Buffer, ...args: unknown[]) {
      if (args[0] === 0) before.push(Buffer.from(this));
      return (realFill as (...a: unknown[]) => Buffer).apply(this, args);
    });
    try {
      await action();
    } finally {
      spy.mockRestore();
    }
    return before;
  }

  it('reading a key file: the read buffer, the text\'s bytes and the decoded key', async () => {
    const target = fresh('zeroed');
    await createKeyFile(target);
    const text = await fs.readFile(target);
    const key = Buffer.from((JSON.parse(text.toString('utf8')) as { key: string }).key, 'base64');
    const buffers = await zeroed(() => readKeyFile(target));
    expect(buffers.some((buffer) => buffer.length === MAX_KEY_FILE_SIZE + 1 && buffer.subarray(0, text.length).equals(text))).toBe(true);
    expect(buffers.some((buffer) => buffer.equals(text))).toBe(true);
    expect(buffers.some((buffer) => buffer.equals(key))).toBe(true);
  });

  it('describing a key file: the decoded key too, though only its id is returned', async () => {
    const target = fresh('zeroed');
    await createKeyFile(target);
    const key = Buffer.from((JSON.parse(await fs.readFile(target, 'utf8')) as { key: string }).key, 'base64');
    const buffers = await zeroed(() => inspectKeyFile(target));
    expect(buffers.some((buffer) => buffer.equals(key))).toBe(true);
  });
});
