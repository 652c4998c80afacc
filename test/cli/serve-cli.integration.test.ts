/**
 * The real command, as users start it: `npm start -- --port 0 --data-dir DIR`
 * builds, starts, prints the URL, writes server.json, and on SIGTERM closes
 * cleanly and removes it. (Slow: the build runs tsc.)
 */
import { spawn } from 'node:child_process';
import { readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { WebSocket } from 'ws';
import type { DiscoveryRecord } from '../../src/server/index.js';
import { makeTempDir } from '../helpers/server.js';

function isAlive(pid: number): boolean {
  if (pid === 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** One call the way a launcher would make it: everything from server.json. */
async function callOnce(record: DiscoveryRecord, method: string): Promise<unknown> {
  const ca = await readFile(record.certificate.path, 'utf8');
  const ws = new WebSocket(record.url, { ca, headers: { Authorization: `Bearer ${record.token}` } });
  const answer = new Promise<unknown>((resolve, reject) => {
    ws.on('message', (data: Buffer) => resolve(JSON.parse(data.toString('utf8'))));
    ws.on('error', reject);
  });
  ws.on('open', () => ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method })));
  try {
    return await answer;
  } finally {
    ws.close();
  }
}

it('npm start -- --port 0 --data-dir DIR serves, prints its URL and stops cleanly on SIGTERM', async () => {
  const dataDir = await makeTempDir();
  const { CLOUDLOCKER_TOKEN: _ignored, ...env } = process.env;
  const child = spawn('npm', ['start', '--silent', '--', '--port', '0', '--data-dir', dataDir, '--log-level', 'warn'], {
    cwd: process.cwd(),
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so that the signal reaches npm and the node it started.
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let serverPid = 0;

  try {
    const deadline = Date.now() + 100_000;
    while (!/listening on wss:\/\//.test(stdout)) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no URL printed.\nstdout:\n${stdout}\nstderr:\n${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const url = /cloudlocker listening on (wss:\/\/127\.0\.0\.1:(\d+)\/rpc)/.exec(stdout);
    expect(url?.[2]).not.toBe('7575');
    expect(stdout).toContain(`server.json: ${path.join(dataDir, 'server.json')}`);
    const record = JSON.parse(await readFile(path.join(dataDir, 'server.json'), 'utf8')) as DiscoveryRecord;
    serverPid = record.pid;
    expect(record.url).toBe(url?.[1]);
    expect(stdout).not.toContain(record.token);
    // serve runs the whole service: the file methods answer too.
    expect(await callOnce(record, 'listFiles')).toMatchObject({ id: 1, result: { files: [], nextCursor: null } });
  } finally {
    // Like Ctrl+C in a terminal: the whole group gets the signal, and npm forwards it once more.
    if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, 'SIGINT');
  }
  await exited;
  // npm may exit before the server has finished closing: wait for the server's own process.
  while (isAlive(serverPid)) await new Promise((resolve) => setTimeout(resolve, 50));
  await expect(stat(path.join(dataDir, 'server.json'))).rejects.toMatchObject({ code: 'ENOENT' });
  expect(stderr).not.toMatch(/Error|error/);
  await rm(dataDir, { recursive: true, force: true });
}, 120_000);
