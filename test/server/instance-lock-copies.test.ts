/**
 * Two copies of the instance-lock module in one process (an Electron app that
 * bundles the server twice, or loads dist/ and the bundle) agree on which locks
 * this process holds: the set lives on globalThis under a registered symbol,
 * not in the module. With a set per copy, the second copy read the first's
 * lock as one left by an earlier process that had our pid, removed it and
 * made its own: two servers on one data directory in one process.
 *
 * The second copy is a fresh instance of the same file (jest.isolateModulesAsync).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, expect, jest, test } from '@jest/globals';
import * as first from '../../src/server/instance-lock.js';

let second: typeof first;
beforeAll(async () => {
  await jest.isolateModulesAsync(async () => {
    second = await import('../../src/server/instance-lock.js');
  });
});

let dataDir: string;
beforeEach(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'cloudlocker-lock-copies-'));
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

test('the two copies are two module instances (else the tests below would prove nothing)', () => {
  expect(second.acquireInstanceLock).not.toBe(first.acquireInstanceLock);
  expect(second.DataDirInUseError).not.toBe(first.DataDirInUseError);
});

test('a lock taken through one copy is held for the other: refused, and its file left alone; and the other way round', async () => {
  const file = path.join(dataDir, first.LOCK_FILE_NAME);
  const lock = await first.acquireInstanceLock(dataDir);
  const written = await readFile(file, 'utf8');
  await expect(second.acquireInstanceLock(dataDir)).rejects.toThrow(`(process ${process.pid})`);
  expect(await readFile(file, 'utf8')).toBe(written);
  await lock.release();

  const again = await second.acquireInstanceLock(dataDir);
  await expect(first.acquireInstanceLock(dataDir)).rejects.toBeInstanceOf(first.DataDirInUseError);
  await again.release();
  await expect(readFile(file)).rejects.toMatchObject({ code: 'ENOENT' });
});

test('the set is one per process, on globalThis under Symbol.for(\'cloudlocker.instance-lock.held.v1\'): file, newline, nonce', async () => {
  const registry = (globalThis as unknown as Record<symbol, unknown>)[Symbol.for('cloudlocker.instance-lock.held.v1')];
  expect(registry).toBeInstanceOf(Set);
  const held = registry as Set<string>;
  const file = path.join(dataDir, first.LOCK_FILE_NAME);
  const lock = await second.acquireInstanceLock(dataDir);
  const { nonce } = JSON.parse(await readFile(file, 'utf8')) as { nonce: string };
  expect(held.has(`${file}\n${nonce}`)).toBe(true);
  await lock.release();
  expect(held.has(`${file}\n${nonce}`)).toBe(false);
});
