/**
 * The wscat one-liner in README.md, run as written: taken from the README at
 * test time, with only the port and the data directory replaced by this
 * test's (7575 and ./.data in the README), then run by bash from the
 * repository root, as a reader would.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir, type TestServer } from '../helpers/server.js';
import { startTestService } from '../helpers/service.js';

const root = process.cwd();
const README_PORT = '127.0.0.1:7575';
const README_DATA_DIR = './.data';

function readmeOneLiners(): string[] {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1] ?? '');
  return blocks.flatMap((block) => block.split('\n')).filter((line) => /^sleep \d+ \| npx wscat /.test(line));
}

let dir: string;
let server: TestServer;

beforeAll(async () => {
  dir = await makeTempDir('cloudlocker-wscat-');
  server = await startTestService({ dataDir: path.join(dir, '.data') });
});

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

it('README.md has exactly one wscat one-liner, naming the port and data directory this test replaces', () => {
  const lines = readmeOneLiners();
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain(README_PORT);
  expect(lines[0]).toContain(`${README_DATA_DIR}/`);
});

it("the README's one-liner calls the service and prints its answer", async () => {
  const [line] = readmeOneLiners();
  const command = (line ?? '').replaceAll(README_PORT, `127.0.0.1:${server.port}`).replaceAll(README_DATA_DIR, path.join(dir, '.data'));
  const { CLOUDLOCKER_TOKEN: _token, ...env } = process.env;
  const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn('bash', ['-c', command], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  const answer = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '') as unknown;
  expect(answer).toMatchObject({ jsonrpc: '2.0', id: 1, result: { name: 'cloudlocker', protocolVersion: 1 } });
}, 30_000);
