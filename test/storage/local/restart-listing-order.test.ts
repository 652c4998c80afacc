/**
 * The local store's listing order survives a restart. The index is rebuilt
 * from the disk at init(); it must come back in UTF-8 byte order, the order
 * cursors are made in. Names where UTF-16 and UTF-8 order disagree (a private
 * use or replacement character against a character outside the BMP) would
 * otherwise be skipped or repeated by a client paging across the restart
 * (issue 18: the rebuild was tested with ASCII names only).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { LocalStorage } from '../../../src/storage/local/local-storage.js';
import { putObject, sortedByBytes, testBytes } from '../conformance.js';

/** In UTF-16 order the emoji (a surrogate pair, 0xD83D...) sorts before U+E000 and U+FFFD; in UTF-8 (F0...) after them. */
const NAMES = ['z', 'z\uE000', 'z\uFFFD', 'z\u{1F600}', 'z\u{10FFFD}', 'za', 'z\u00E9', 'z\uFF5E/x', 'z\u{1F600}/x'];
/** Far more pages than any listing here needs: a listing that loops fails instead of hanging. */
const MAX_PAGES = 100;

let workDir: string;
let storeDir: string;
const opened: LocalStorage[] = [];

beforeEach(async () => {
  workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'cloudlocker-restart-order-'));
  storeDir = path.join(workDir, 'store');
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((storage) => storage.close()));
  await fs.rm(workDir, { recursive: true, force: true });
});

async function openStore(): Promise<LocalStorage> {
  const storage = new LocalStorage({ directory: storeDir });
  opened.push(storage);
  await storage.init();
  return storage;
}

async function restart(storage: LocalStorage): Promise<LocalStorage> {
  await storage.close();
  opened.splice(opened.indexOf(storage), 1);
  return openStore();
}

describe('LocalStorage: listing order after a restart (non-ASCII names)', () => {
  it('the test names really disagree between UTF-16 and UTF-8 order (else this file proves nothing)', () => {
    expect([...NAMES].sort()).not.toEqual(sortedByBytes(NAMES));
  });

  it('lists the names rebuilt from disk in UTF-8 byte order', async () => {
    const first = await openStore();
    for (const [i, name] of NAMES.entries()) await putObject(first, name, testBytes(3, i + 1));
    const second = await restart(first);
    const page = await second.list({ limit: 1000 });
    expect(page.objects.map((o) => o.name)).toEqual(sortedByBytes(NAMES));
    expect(page.nextCursor ?? undefined).toBeUndefined();
  });

  it('a client paging one name at a time across a restart sees every name once, in order', async () => {
    const expected = sortedByBytes(NAMES);
    let storage = await openStore();
    for (const [i, name] of NAMES.entries()) await putObject(storage, name, testBytes(3, i + 1));

    const seen: string[] = [];
    let cursor: string | undefined;
    for (let pageNumber = 0; ; pageNumber++) {
      if (pageNumber >= MAX_PAGES) throw new Error(`listing did not end after ${MAX_PAGES} pages: ${JSON.stringify(seen)}`);
      // Restart between every page: each cursor made before a restart is used after it.
      if (pageNumber > 0) storage = await restart(storage);
      const page = await storage.list({ limit: 1, cursor });
      seen.push(...page.objects.map((o) => o.name));
      cursor = page.nextCursor ?? undefined;
      if (cursor === undefined) break;
    }
    expect(seen).toEqual(expected);
  });

  it('pages by prefix across a restart, within the prefix only', async () => {
    let storage = await openStore();
    for (const [i, name] of NAMES.entries()) await putObject(storage, name, testBytes(3, i + 1));
    const first = await storage.list({ prefix: 'z\uE000', limit: 1 });
    expect(first.objects.map((o) => o.name)).toEqual(['z\uE000']);
    storage = await restart(storage);
    const withEmoji = await storage.list({ prefix: 'z\u{1F600}', limit: 10 });
    expect(withEmoji.objects.map((o) => o.name)).toEqual(['z\u{1F600}', 'z\u{1F600}/x']);
  });
});
