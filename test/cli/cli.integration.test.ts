/**
 * The built `cloudlocker` binary as users run it, as a child process, against
 * a service running in this process (its store slowed a little so that
 * progress has something to show). Builds once (tsc) in beforeAll.
 */
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import PQueue from 'p-queue';
import { serviceFixture, transferHold, type ServiceFixture } from '../client/fixtures.js';
import { openClient } from '../helpers/server.js';

const root = process.cwd();
const bin = path.join(root, 'dist', 'src', 'cli', 'main.js');
const MiB = 1024 * 1024;

let fixture: ServiceFixture;
/** Transfers held mid-way on demand: a transfer that surely runs long enough. */
const holds = transferHold();

/** Every .ts under protocol/, src/ and tools/ with an older (or no) .js in dist/: the build is out of date. */
async function staleBuild(): Promise<boolean> {
  for (const top of ['protocol', 'src', 'tools']) {
    for (const entry of await readdir(path.join(root, top), { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || !entry.name.endsWith('.ts') || entry.name.endsWith('.d.ts')) continue;
      const source = path.join(entry.parentPath, entry.name);
      const built = path.join(root, 'dist', path.relative(root, source)).replace(/\.ts$/, '.js');
      const [sourceStat, builtStat] = await Promise.all([stat(source), stat(built).catch(() => undefined)]);
      if (builtStat === undefined || builtStat.mtimeMs < sourceStat.mtimeMs) return true;
    }
  }
  return false;
}

beforeAll(async () => {
  // The binary under test is built from the sources as they are (skipped when dist/ is already newer).
  if (await staleBuild()) await promisify(execFile)('npm', ['run', 'build', '--silent'], { cwd: root });
  // Slow enough for several progress notifications (every 20 ms) in a transfer of a few MiB.
  fixture = await serviceFixture({ slowMs: 30, progressIntervalMs: 20, beforeWritePart: holds.beforeWritePart });
}, 120_000);

afterAll(async () => {
  await fixture?.cleanup();
});

interface CliRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The environment of a user with no CLOUDLOCKER_* settings, plus `extra`. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('CLOUDLOCKER_')));
  return { ...env, ...extra };
}

interface RunOptions {
  env?: Record<string, string>;
  input?: string;
  /** Called with the child once it runs (to signal it, say). */
  started?: (child: ReturnType<typeof spawn>) => void;
}

function cli(args: string[], options: RunOptions = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: fixture.filesDir, env: cleanEnv(options.env), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
    options.started?.(child);
  });
}

/** `cli` with --data-dir pointing at the test service. */
function cl(args: string[], options: RunOptions = {}): Promise<CliRun> {
  return cli([...args, '--data-dir', fixture.dataDir], options);
}

function jsonLines(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('upload, ls, info, download, rm', () => {
  it('round-trips a file with plain output and plain progress lines when piped', async () => {
    const { path: source, bytes } = await fixture.file('report.bin', 12 * MiB + 3);
    const up = await cl(['upload', 'report.bin', '--new-key', 'report.key.json', '--name', 'docs/report.bin']);
    expect(up).toMatchObject({ code: 0 });
    expect(up.stdout).toContain(`Uploaded ${source} as docs/report.bin: 12.0 MiB`);
    expect(up.stdout).toContain(`Created the key file ${path.join(fixture.filesDir, 'report.key.json')}: back it up.`);
    // Piped: no bar, no control characters; one line per tenth reached.
    const progress = up.stderr.trimEnd().split('\n');
    expect(up.stderr).not.toMatch(/\r|\x1b/);
    expect(progress.length).toBeGreaterThanOrEqual(3);
    expect(progress.length).toBeLessThanOrEqual(11);
    expect(progress.at(-1)).toMatch(/^upload docs\/report\.bin: 100% \(12\.0 MiB of 12\.0 MiB/);

    const ls = await cl(['ls', 'docs/']);
    expect(ls).toMatchObject({ code: 0, stderr: '' });
    expect(ls.stdout).toMatch(/^\s+12\.0 MiB {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ {2}docs\/report\.bin\n$/);

    const info = await cl(['info', 'docs/report.bin']);
    expect(info.stdout).toContain(`size:           12.0 MiB (${bytes.length} bytes)`);

    const down = await cl(['download', 'docs/report.bin', '--to', 'copy.bin', '--key', 'report.key.json']);
    expect(down).toMatchObject({ code: 0 });
    expect(down.stdout).toBe(`Downloaded docs/report.bin to ${path.join(fixture.filesDir, 'copy.bin')} (12.0 MiB).\n`);
    expect((await readFile(path.join(fixture.filesDir, 'copy.bin'))).equals(bytes)).toBe(true);

    const rm = await cl(['rm', 'docs/report.bin']);
    expect(rm).toMatchObject({ code: 0, stdout: 'Deleted docs/report.bin.\n' });
    expect((await cl(['ls', 'docs/'])).stdout).toBe('');
  });

  it('keygen makes an age identity by default (hybrid or v1 when asked), card prints its card, upload --recipient encrypts to a card', async () => {
    const made = await cli(['keygen', 'me.key.txt', '--json']);
    expect(made.code).toBe(0);
    const [facts] = jsonLines(made.stdout);
    expect(facts).toMatchObject({ format: 'age', keyType: 'X25519', passphraseProtected: false });
    expect(String(facts!['card'])).toMatch(/^cloudlockercard1/);
    const card = await cli(['card', 'me.key.txt']);
    expect(card.code).toBe(0);
    expect(card.stdout.split('\n')[0]).toBe(facts!['card']);
    expect(card.stdout + card.stderr).not.toContain('AGE-SECRET-KEY');
    expect((await cli(['keygen', 'pq.key.txt', '--type', 'mlkem768x25519', '--json'])).stdout).toContain('"keyType":"mlkem768x25519"');
    expect((await cli(['keygen', 'old.key.json', '--type', 'v1', '--json'])).stdout).toContain('"format":"v1"');
    const v1Card = await cli(['card', 'old.key.json']);
    expect(v1Card.code).toBe(4);
    expect(v1Card.stderr).toMatch(/v1 key file, which has no public card/);

    await fixture.file('shared.bin', 1000);
    const friend = jsonLines((await cli(['keygen', 'friend.key.txt', '--json'])).stdout)[0]!;
    const up = await cl(['upload', 'shared.bin', '--key', 'me.key.txt', '--recipient', String(friend['card']), '--name', 'shared.bin']);
    expect(up.code).toBe(0);
    const info = await cl(['info', 'shared.bin']);
    expect(info.stdout).toContain('format:         age (version 2)');
    expect(info.stdout).toContain(`author card id: ${String(facts!['keyId'])}`);
    expect(info.stdout).toContain('stanzas:        3');
    const bad = await cl(['upload', 'shared.bin', '--key', 'me.key.txt', '--recipient', 'age1nope', '--name', 'bad.bin']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/Recipient 0/);
  });

  it('--json prints one JSON object per result on stdout, progress and errors as JSON lines on stderr', async () => {
    await fixture.file('j1.bin', 3 * MiB);
    await fixture.file('j2.bin', 10);
    const up = await cl(['upload', 'j1.bin', '--new-key', 'j.key.json', '--name', 'json/j1.bin', '--json']);
    expect(up.code).toBe(0);
    const [result, ...more] = jsonLines(up.stdout);
    expect(more).toEqual([]);
    expect(result).toMatchObject({ name: 'json/j1.bin', size: 3 * MiB, keyCreated: true, keyPath: path.join(fixture.filesDir, 'j.key.json') });
    const progress = jsonLines(up.stderr);
    expect(progress.every((line) => line['type'] === 'progress' && line['transferId'] === result?.['transferId'])).toBe(true);
    expect(progress.at(-1)).toMatchObject({ percent: 100 });

    expect((await cl(['upload', 'j2.bin', '--key', 'j.key.json', '--name', 'json/j2.bin', '--json', '--no-progress'])).stderr).toBe('');
    const ls = await cl(['ls', 'json/', '--json']);
    expect(jsonLines(ls.stdout).map((file) => [file['name'], file['size']])).toEqual([
      ['json/j1.bin', 3 * MiB],
      ['json/j2.bin', 10],
    ]);
    const transfers = jsonLines((await cl(['transfers', '--json'])).stdout);
    expect(transfers.find((t) => t['transferId'] === result?.['transferId'])).toMatchObject({ state: 'completed', direction: 'upload' });

    const missing = await cl(['info', 'json/none', '--json']);
    expect(missing).toMatchObject({ code: 3, stdout: '' });
    expect(jsonLines(missing.stderr)).toEqual([expect.objectContaining({ type: 'error', exitCode: 3, code: -32001, reason: 'NOT_FOUND' })]);
  });
});

describe('download destinations', () => {
  it('reads --to "dir/" as "into dir": a missing folder is NOT_FOUND with no file in its place, --create-dirs creates it', async () => {
    const { bytes } = await fixture.file('dest.bin', 1000);
    expect((await cl(['upload', 'dest.bin', '--new-key', 'dest.key.json', '--name', 'dest/dest.bin', '--no-progress'])).code).toBe(0);
    const missing = await cl(['download', 'dest/dest.bin', '--to', 'nowhere/', '--key', 'dest.key.json', '--no-progress']);
    expect(missing).toMatchObject({ code: 3 });
    expect(missing.stderr).toMatch(/--create-dirs/);
    expect(await readdir(fixture.filesDir)).not.toContain('nowhere');
    const created = await cl(['download', 'dest/dest.bin', '--to', 'nowhere/deeper/', '--create-dirs', '--key', 'dest.key.json', '--no-progress']);
    expect(created).toMatchObject({ code: 0 });
    const saved = path.join(fixture.filesDir, 'nowhere', 'deeper', 'dest.bin');
    expect(created.stdout).toBe(`Downloaded dest/dest.bin to ${saved} (1000 B).\n`);
    expect((await readFile(saved)).equals(bytes)).toBe(true);
  });
});

describe('folders', () => {
  it('ls --folders shows one level (files, then sub-folders with counts, in byte order); rm -r deletes a folder and counts', async () => {
    await fixture.file('tree.bin', 10);
    expect((await cl(['upload', 'tree.bin', '--new-key', 'tree.key.json', '--name', 'tree/a.bin', '--no-progress'])).code).toBe(0);
    for (const name of ['tree/sub/1.bin', 'tree/sub/2.bin', 'tree/z.bin']) {
      expect((await cl(['upload', 'tree.bin', '--key', 'tree.key.json', '--name', name, '--no-progress'])).code).toBe(0);
    }
    const ls = await cl(['ls', 'tree/', '--folders']);
    expect(ls).toMatchObject({ code: 0, stderr: '' });
    expect(ls.stdout.split('\n').filter(Boolean).map((line) => line.trim().split(/\s+/).at(-1))).toEqual(['tree/a.bin', 'tree/sub/', 'tree/z.bin']);
    expect(ls.stdout).toMatch(/2 files\s+tree\/sub\/\n/);
    const json = jsonLines((await cl(['ls', 'tree/', '--folders', '--json'])).stdout);
    expect(json[1]).toEqual({ folder: 'tree/sub/', fileCount: 2 });
    // upload DIR and download folder/ --to DIR: one group each, the tree back byte-exact.
    const local = path.join(fixture.filesDir, 'album');
    await mkdir(path.join(local, 'inner'), { recursive: true });
    await writeFile(path.join(local, 'one.txt'), 'one');
    await writeFile(path.join(local, 'inner', 'two.txt'), 'two');
    const up = await cl(['upload', 'album', '--key', 'tree.key.json', '--name', 'tree/album', '--no-progress']);
    expect(up).toMatchObject({ code: 0 });
    expect(up.stdout).toMatch(/^Uploaded .*album as tree\/album\/: 2 of 2 files, 6 B/);
    const down = await cl(['download', 'tree/album/', '--to', 'restored/', '--create-dirs', '--key', 'tree.key.json', '--no-progress']);
    expect(down).toMatchObject({ code: 0 });
    expect(down.stdout).toBe(`Downloaded tree/album/ to ${path.join(fixture.filesDir, 'restored', 'album')}: 2 of 2 files, 6 B.\n`);
    expect(await readFile(path.join(fixture.filesDir, 'restored', 'album', 'inner', 'two.txt'), 'utf8')).toBe('two');
    expect(await readFile(path.join(fixture.filesDir, 'restored', 'album', 'one.txt'), 'utf8')).toBe('one');

    const rm = await cl(['rm', '-r', 'tree/']);
    expect(rm).toMatchObject({ code: 0, stdout: 'Deleted the folder tree/ (6 files).\n' });
    expect((await cl(['ls', 'tree/'])).stdout).toBe('');
  }, 90_000);
});

describe('several paths and names, folder names, tree view', () => {
  it('upload A B FOLDER: each stored, one key made by the first; a missing path is reported by name and the rest still go (exit 3)', async () => {
    const local = path.join(fixture.filesDir, 'many');
    await mkdir(path.join(local, 'album', 'inner'), { recursive: true });
    await writeFile(path.join(local, 'a.txt'), 'alpha');
    await writeFile(path.join(local, 'b.txt'), 'bravo!');
    await writeFile(path.join(local, 'album', 'one.txt'), 'one');
    await writeFile(path.join(local, 'album', 'inner', 'two.txt'), 'two');
    await mkdir(path.join(fixture.filesDir, 'many-keys'));
    const up = await cl(['upload', 'many/a.txt', 'many/b.txt', 'many/album', '--new-key', 'many-keys', '--no-progress', '--json']);
    expect(up).toMatchObject({ code: 0, stderr: '' });
    const results = jsonLines(up.stdout);
    expect(results.map((r) => r['name'])).toEqual(['a.txt', 'b.txt', 'album']);
    // One key for all three: created by the first (named after it), used by the rest.
    const key = path.join(fixture.filesDir, 'many-keys', 'a.txt.key.txt');
    expect(results.map((r) => [r['keyPath'], r['keyCreated']])).toEqual([[key, true], [key, false], [key, false]]);
    expect(results[2]).toMatchObject({ filesTotal: 2, filesStored: 2, failed: [] });
    expect(await readdir(path.join(fixture.filesDir, 'many-keys'))).toEqual(['a.txt.key.txt']);

    const partly = await cl(['upload', 'many/nothing-here.txt', 'many/b.txt', '--key', key, '--name', 'x', '--no-progress']);
    expect(partly).toMatchObject({ code: 2 }); // --name with several paths: usage, nothing stored
    const missing = await cl(['upload', 'many/nothing-here.txt', 'many/b.txt', '--key', key, '--overwrite', '--no-progress']);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/^cloudlocker: .*nothing-here\.txt: /m);
    expect(missing.stdout).toMatch(/^Uploaded .*b\.txt as b\.txt: 6 B/m);
    const missingJson = await cl(['upload', 'many/nothing-here.txt', 'many/b.txt', '--key', key, '--overwrite', '--no-progress', '--json']);
    expect(missingJson.code).toBe(3);
    expect(jsonLines(missingJson.stderr)[0]).toMatchObject({ type: 'error', exitCode: 3, path: path.join(local, 'nothing-here.txt'), reason: 'NOT_FOUND' });
    expect(jsonLines(missingJson.stdout).map((r) => r['name'])).toEqual(['b.txt']);
  }, 90_000);

  it('download NAME... --to DIR: files and folders (with or without the "/") into one folder; a missing one reported by name (exit 3); --to must be a folder', async () => {
    const key = path.join(fixture.filesDir, 'dl-many.key.txt');
    const local = path.join(fixture.filesDir, 'dl-many');
    await mkdir(path.join(local, 'pics', 'old'), { recursive: true });
    await writeFile(path.join(local, 'note.txt'), 'note');
    await writeFile(path.join(local, 'pics', 'p1.bin'), 'p1');
    await writeFile(path.join(local, 'pics', 'old', 'p0.bin'), 'p0');
    expect((await cl(['upload', 'dl-many/note.txt', 'dl-many/pics', '--new-key', key, '--no-progress'])).code).toBe(0);

    const notFolder = await cl(['download', 'note.txt', 'pics/', '--to', 'dl-out-file.bin', '--key', key, '--no-progress']);
    expect(notFolder.code).toBe(2);
    expect(notFolder.stderr).toMatch(/several names, --to is the folder/);
    expect(await readdir(fixture.filesDir)).not.toContain('dl-out-file.bin');

    const down = await cl(['download', 'note.txt', 'nope.txt', 'pics', '--to', 'dl-out/', '--create-dirs', '--key', key, '--no-progress']);
    expect(down.code).toBe(3);
    expect(down.stderr).toMatch(/^cloudlocker: nope\.txt: /m);
    const out = path.join(fixture.filesDir, 'dl-out');
    expect(await readFile(path.join(out, 'note.txt'), 'utf8')).toBe('note');
    // "pics" has no file of its own but files under pics/: downloaded as the folder.
    expect(down.stdout).toContain(`Downloaded pics/ to ${path.join(out, 'pics')}: 2 of 2 files, 4 B.`);
    expect(await readFile(path.join(out, 'pics', 'old', 'p0.bin'), 'utf8')).toBe('p0');
    expect(await readFile(path.join(out, 'pics', 'p1.bin'), 'utf8')).toBe('p1');

    const json = await cl(['download', 'note.txt', 'pics/', '--to', 'dl-out', '--overwrite', '--key', key, '--no-progress', '--json']);
    expect(json).toMatchObject({ code: 0, stderr: '' });
    expect(jsonLines(json.stdout).map((r) => [r['name'], r['path']])).toEqual([
      ['note.txt', path.join(out, 'note.txt')],
      ['pics', path.join(out, 'pics')],
    ]);
  }, 90_000);

  it('ls --tree: every level, folders with file counts and sizes before their content; --json one entry per line in the same order', async () => {
    const key = path.join(fixture.filesDir, 'tree-view.key.txt');
    await fixture.file('tv.bin', 10);
    expect((await cl(['upload', 'tv.bin', '--new-key', key, '--name', 'tv/b.bin', '--no-progress'])).code).toBe(0);
    for (const name of ['tv/a/x.bin', 'tv/a/deep/y.bin', 'tv/c.bin']) expect((await cl(['upload', 'tv.bin', '--key', key, '--name', name, '--no-progress'])).code).toBe(0);
    const tree = await cl(['ls', 'tv/', '--tree']);
    expect(tree).toMatchObject({ code: 0, stderr: '' });
    expect(tree.stdout.split('\n').filter(Boolean).map((line) => line.replace(/^.{34}/, ''))).toEqual(['a/', '  deep/', '    y.bin', '  x.bin', 'b.bin', 'c.bin']);
    expect(tree.stdout).toMatch(/ 20 B {2}2 files\s+a\/\n/);
    const json = jsonLines((await cl(['ls', 'tv/', '--tree', '--json'])).stdout);
    expect(json.map((entry) => entry['folder'] ?? entry['name'])).toEqual(['tv/a/', 'tv/a/deep/', 'tv/a/deep/y.bin', 'tv/a/x.bin', 'tv/b.bin', 'tv/c.bin']);
    expect(json[0]).toEqual({ folder: 'tv/a/', fileCount: 2, size: 20 });
    expect(json[2]).toMatchObject({ name: 'tv/a/deep/y.bin', size: 10 });
    expect((await cl(['ls', '--tree', '--folders'])).code).toBe(2);
  }, 90_000);
});

describe('exit codes', () => {
  const cases: Array<[string, string[], number, RegExp]> = [
    ['usage: unknown flag', ['ls', '--bogus'], 2, /unknown option '--bogus'/],
    ['key: no --key and no identity unlocked (upload): LOCKED, naming cloudlocker unlock', ['upload', 'e.bin', '--name', 'locked.bin'], 4, /No identity is unlocked to upload: unlock one first \(cloudlocker unlock\), or give --key\./],
    ['key: no --key and no identity unlocked (download): LOCKED', ['download', 'e.bin', '--to', 'locked.out'], 4, /No identity is unlocked to download: unlock one first \(cloudlocker unlock\)/],
    ['usage: a passphrase flag without a key flag', ['upload', 'e.bin', '--name', 'locked.bin', '--key-passphrase-from-stdin'], 2, /--key-passphrase-from-stdin goes with --key/],
    ['usage: a mistyped flag is named as unknown, not as a missing --key (upload)', ['upload', 'e.bin', '--kye', 'e.key.json'], 2, /unknown option '--kye'[\s\S]*Did you mean --key\?/],
    ['usage: a mistyped flag is named as unknown, not as a missing --key (download)', ['download', 'e.bin', '--to', 'x.bin', '--kye', 'e.key.json'], 2, /unknown option '--kye'/],
    ['usage: download without --to', ['download', 'e.bin', '--key', 'e.key.json'], 2, /required option '--to <path>' not specified/],
    ['not found: a mistyped --key creates no key', ['upload', 'e.bin', '--key', 'e.kye.json', '--name', 'typo.bin'], 3, /no key file at .*e\.kye\.json\. To create a new key there, use --new-key/],
    ['exists: --new-key over an existing key file', ['upload', 'e.bin', '--new-key', 'e.key.json', '--name', 'other.bin'], 6, /already exists: to encrypt with that key, use --key/],
    ['usage: unknown command', ['frobnicate'], 2, /unknown command 'frobnicate'/],
    ['usage: invalid remote name (-32602)', ['info', 'a//b'], 2, /^cloudlocker: .*name/],
    ['not found: remote file', ['info', 'nope.bin'], 3, /^cloudlocker: /],
    ['not found: local file', ['upload', 'missing.bin', '--key', 'e.key.json'], 3, /^cloudlocker: /],
    ['key: wrong key for the file', ['download', 'e.bin', '--to', 'x.bin', '--key', 'other.key.json'], 4, /not encrypted to your identity/],
    ['exists: download over a file, worded as the flag', ['download', 'e.bin', '--to', 'e.bin', '--key', 'e.key.json'], 6, /already exists: add --overwrite to replace it\.$/m],
    ['exists: upload over a stored file, worded as the flag', ['upload', 'e.bin', '--key', 'e.key.json'], 6, /already stored: add --overwrite to replace it\.$/m],
  ];
  /**
   * The runs, started before the tests (they change nothing), four at a time: sixteen CLIs
   * started at once on a loaded two-core machine each took long enough to meet the 30 s kill.
   * Each test awaits its own.
   */
  const runs = new Map<string, Promise<CliRun>>();
  const fourAtATime = new PQueue({ concurrency: 4 });

  beforeAll(async () => {
    await fixture.file('e.bin', 1000);
    expect((await cl(['upload', 'e.bin', '--new-key', 'e.key.json', '--name', 'e.bin'])).code).toBe(0);
    expect((await cli(['keygen', 'other.key.json'])).code).toBe(0);
    for (const [label, args] of cases) runs.set(label, fourAtATime.add(() => cl(args)));
  });

  it.each(cases)('%s', async (label, _args, code, message) => {
    const run = await (runs.get(label) as Promise<CliRun>);
    expect(run.code).toBe(code);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(message);
  });

  it('5 when no service runs for the data directory, with a message that says how to start one', async () => {
    const run = await cli(['ls', '--data-dir', fixture.filesDir]);
    expect(run.code).toBe(5);
    expect(run.stderr).toContain('cloudlocker serve --data-dir');
  });

  it('--url takes the token from CLOUDLOCKER_TOKEN only, and pins the certificate', async () => {
    const { url, token, certificate } = fixture.server;
    const withToken = { env: { CLOUDLOCKER_TOKEN: token } };
    const [noToken, viaCa, viaPin, wrongPin, wrongToken, viaDataDir, noCertificate] = await Promise.all([
      cli(['ls', '--url', url, '--ca', certificate.path]),
      cli(['ls', '--url', url, '--ca', certificate.path], withToken),
      cli(['ls', '--url', url, '--spki-sha256', certificate.spkiSha256], withToken),
      cli(['ls', '--url', url, '--spki-sha256', 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='], withToken),
      cli(['ls', '--url', url, '--ca', certificate.path], { env: { CLOUDLOCKER_TOKEN: 'x'.repeat(30) } }),
      // No certificate named, but the data directory's service is the one at that URL.
      cli(['ls', '--url', url, '--data-dir', fixture.dataDir], withToken),
      cli(['ls', '--url', url, '--data-dir', fixture.filesDir], withToken),
    ]);
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toContain('CLOUDLOCKER_TOKEN');
    expect(viaCa).toMatchObject({ code: 0 });
    expect(viaCa.stdout).toContain('e.bin');
    expect(viaPin.code).toBe(0);
    expect(wrongPin.code).toBe(5);
    expect(wrongPin.stderr).toContain('does not match the pinned spkiSha256');
    expect(wrongToken.code).toBe(5);
    expect(wrongToken.stderr).toContain('HTTP 401');
    expect(viaDataDir.code).toBe(0);
    expect(noCertificate.code).toBe(2);
    expect(noCertificate.stderr).toContain('--ca');
  });
});

describe('passphrases', () => {
  const passphrase = 'correct horse battery staple';

  it('come from one line of standard input or CLOUDLOCKER_KEY_PASSPHRASE, and are never printed', async () => {
    const keygen = await cli(['keygen', 'locked.key.json', '--passphrase-from-stdin', '--json'], { input: `${passphrase}\n` });
    expect(keygen.code).toBe(0);
    expect(jsonLines(keygen.stdout)).toEqual([expect.objectContaining({ path: path.join(fixture.filesDir, 'locked.key.json'), passphraseProtected: true })]);
    // An age identity encrypted to the passphrase (age -p -a), as age -d -i reads it.
    expect(await readFile(path.join(fixture.filesDir, 'locked.key.json'), 'utf8')).toMatch(/^-----BEGIN AGE ENCRYPTED FILE-----\n/);

    const { bytes } = await fixture.file('secret.bin', 5000);
    const wrong = await cl(['upload', 'secret.bin', '--key', 'locked.key.json', '--key-passphrase-from-stdin'], { input: 'not it\n' });
    expect(wrong.code).toBe(4);
    const noPassphrase = await cl(['upload', 'secret.bin', '--key', 'locked.key.json']);
    expect(noPassphrase.code).toBe(4);
    const right = await cl(['upload', 'secret.bin', '--key', 'locked.key.json', '--key-passphrase-from-stdin'], { input: `${passphrase}\n` });
    expect(right.code).toBe(0);
    const down = await cl(['download', 'secret.bin', '--to', 'secret.out', '--key', 'locked.key.json'], { env: { CLOUDLOCKER_KEY_PASSPHRASE: passphrase } });
    expect(down.code).toBe(0);
    expect((await readFile(path.join(fixture.filesDir, 'secret.out'))).equals(bytes)).toBe(true);
    for (const run of [keygen, wrong, right, down]) expect(run.stdout + run.stderr).not.toContain(passphrase);

    const empty = await cli(['keygen', 'empty.key.json', '--passphrase-from-stdin'], { input: '\n' });
    expect(empty.code).toBe(2);
    expect(await readdir(fixture.filesDir)).not.toContain('empty.key.json');
    // Four scrypt runs at age's work factor (2^18: about 1 s and 256 MiB each on an idle core), in processes of their own.
  }, 120_000);
});

describe('transfers that are cancelled', () => {
  beforeEach(() => {
    holds.hold();
  });
  afterEach(() => {
    holds.releaseAll();
  });

  it('cancel ID stops a running upload, which then fails with the CANCELLED message', async () => {
    await fixture.file('slow.bin', 8 * MiB);
    const watcher = await openClient(fixture.server);
    const upload = cl(['upload', 'slow.bin', '--new-key', 'slow.key.json', '--transfer-id', 'cli-cancel-1']);
    await watcher.waitForNotification((n) => n.params['transferId'] === 'cli-cancel-1' && n.params['state'] === 'running', 10_000);
    await watcher.close();
    const cancel = await cl(['cancel', 'cli-cancel-1']);
    expect(cancel).toMatchObject({ code: 0, stdout: 'Cancelled cli-cancel-1.\n' });
    const run = await upload;
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('The transfer was cancelled');
    expect((await cl(['cancel', 'cli-cancel-1'])).stdout).toBe('cli-cancel-1 had already finished; nothing changed.\n');
    expect((await cl(['cancel', 'no-such-transfer'])).code).toBe(3);
  });

  it('Ctrl+C cancels the transfer in the service and exits 130, leaving nothing stored', async () => {
    await fixture.file('interrupt.bin', 8 * MiB);
    const watcher = await openClient(fixture.server);
    const run = await cl(['upload', 'interrupt.bin', '--new-key', 'interrupt.key.json', '--transfer-id', 'cli-sigint-1'], {
      started: (child) => {
        void watcher
          .waitForNotification((n) => n.params['transferId'] === 'cli-sigint-1' && n.params['state'] === 'running', 10_000)
          .then(() => child.kill('SIGINT'));
      },
    });
    await watcher.close();
    expect(run.code).toBe(130);
    expect(run.stderr).toContain('Cancelled: nothing was stored.');
    expect((await cl(['ls', 'interrupt'])).stdout).toBe('');
    const transfers = jsonLines((await cl(['transfers', '--json'])).stdout);
    expect(transfers.find((t) => t['transferId'] === 'cli-sigint-1')).toMatchObject({ state: 'cancelled' });
  });
});

describe('on a terminal', () => {
  it('draws a progress bar that is redrawn in place (run under script(1) for a pseudo-terminal)', async () => {
    await fixture.file('tty.bin', 48 * MiB);
    const command = [process.execPath, bin, 'upload', 'tty.bin', '--new-key', 'tty.key.json', '--data-dir', fixture.dataDir].map((arg) => `'${arg}'`).join(' ');
    const script = path.join(fixture.dir, 'tty.sh');
    await writeFile(script, `cd '${fixture.filesDir}' && ${command}\n`);
    const run = await new Promise<CliRun>((resolve, reject) => {
      const child = spawn('script', ['-q', '-e', '-c', `sh '${script}'`, '/dev/null'], { env: cleanEnv({ COLUMNS: '120' }), stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr: '' }));
    });
    expect(run.code).toBe(0);
    // Carriage return and redraw: several states of one bar, no line per update.
    const frames = run.stdout.split('\r').filter((frame) => frame.includes('upload tty.bin'));
    expect(frames.length).toBeGreaterThanOrEqual(3);
    expect(frames.some((frame) => frame.includes('█') && frame.includes('░'))).toBe(true);
    expect(frames.at(-1)).toContain('100%');
    expect(run.stdout).toContain('Uploaded ');
  });
});

/**
 * The command on a pseudo-terminal of `columns` columns (script(1)); what the
 * terminal shows comes back as stdout. `interact` gets the output so far and
 * the terminal's input (a "\x03" written there is a real Ctrl+C).
 */
async function onTerminal(
  args: string[],
  options: { columns?: number; interact?: (output: () => string, input: NodeJS.WritableStream) => void } = {},
): Promise<CliRun> {
  const command = [process.execPath, bin, ...args, '--data-dir', fixture.dataDir].map((arg) => `'${arg}'`).join(' ');
  const script = path.join(fixture.dir, `tty-${randomUUID()}.sh`);
  await writeFile(script, `stty cols ${options.columns ?? 120} rows 24 2>/dev/null; cd '${fixture.filesDir}' && exec ${command}\n`);
  return new Promise<CliRun>((resolve, reject) => {
    const child = spawn('script', ['-q', '-e', '-c', `sh '${script}'`, '/dev/null'], { env: cleanEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.on('error', reject);
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr: '' });
    });
    options.interact?.(() => stdout, child.stdin);
  });
}

function waitFor(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = setInterval(() => {
      if (condition()) {
        clearInterval(poll);
        resolve();
      } else if (Date.now() - started > timeoutMs) {
        clearInterval(poll);
        reject(new Error('timed out'));
      }
    }, 20);
  });
}

describe('what a new user hit (issue 17)', () => {
  it('a reader that stops early (cloudlocker card KEY | head) is no failure and prints no stack trace', async () => {
    const keyPath = path.join(fixture.filesDir, 'piped.key.txt');
    expect((await cli(['keygen', keyPath])).code).toBe(0);
    // The reading end closed before the command writes: its output meets EPIPE.
    const run = await cli(['card', keyPath], { started: (child) => child.stdout?.destroy() });
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
  });

  it('a mistyped --key creates no key file and stores nothing', async () => {
    await fixture.file('typo.bin', 1000);
    const run = await cl(['upload', 'typo.bin', '--key', 'typo.kye.json']);
    expect(run.code).toBe(3);
    expect(await readdir(fixture.filesDir)).not.toContain('typo.kye.json');
    expect((await cl(['ls', 'typo'])).stdout).toBe('');
  });

  it('--new-key DIR creates <name>.key.txt in the folder; --key DIR says to use --new-key', async () => {
    await fixture.file('indir.bin', 1000);
    const asKey = await cl(['upload', 'indir.bin', '--key', '.']);
    expect(asKey.code).toBe(2);
    expect(asKey.stderr).toContain('--new-key . creates indir.bin.key.txt in it');
    expect((await cl(['upload', 'indir.bin', '--new-key', '.'])).code).toBe(0);
    expect(await readdir(fixture.filesDir)).toContain('indir.bin.key.txt');
  });

  it('transfers prints a header and local start and finish times; --json stays one TransferStatus per line', async () => {
    await fixture.file('listed.bin', 1000);
    expect((await cl(['upload', 'listed.bin', '--new-key', 'listed.key.json', '--transfer-id', 'listed-1'])).code).toBe(0);
    const human = (await cl(['transfers'])).stdout.split('\n');
    expect(human[0]).toMatch(/^ID +DIRECTION +STATE +DONE +STARTED +FINISHED +NAME$/);
    const row = human.find((line) => line.startsWith('listed-1'));
    expect(row).toMatch(/^listed-1 +upload +completed +100% +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +listed\.bin$/);
    const json = jsonLines((await cl(['transfers', '--json'])).stdout);
    expect(json.find((t) => t['transferId'] === 'listed-1')).toMatchObject({ state: 'completed', startedAt: expect.any(String), finishedAt: expect.any(String) });
    expect(json.every((t) => typeof t['transferId'] === 'string')).toBe(true);
  });

  it('at 80 columns the bar keeps the percent, speed and time left, and never reaches the last column', async () => {
    await fixture.file('narrow.bin', 24 * MiB);
    const run = await onTerminal(['upload', 'narrow.bin', '--new-key', 'narrow.key.json'], { columns: 80 });
    expect(run.code).toBe(0);
    // The terminal turns each \n into \r\n: a frame is what follows a lone \r, up to the erase-line sequence.
    const frames = run.stdout.replace(/\r\n/g, '\n').split('\r').map((frame) => frame.replace(/(\x1b\[K|\n)[\s\S]*$/, '')).filter((frame) => frame.includes('narrow.bin:'));
    expect(frames.length).toBeGreaterThanOrEqual(2);
    for (const frame of frames) expect([...frame].length).toBeLessThanOrEqual(79);
    expect(frames.some((frame) => /\d+% \(.*\/s, .* left\)/.test(frame))).toBe(true);
  });

  it('Ctrl+C on a terminal: the "Cancelling" line is not drawn over by the bar', async () => {
    holds.hold();
    try {
      await fixture.file('ctrlc.bin', 8 * MiB);
      const watcher = await openClient(fixture.server);
      const run = await onTerminal(['upload', 'ctrlc.bin', '--new-key', 'ctrlc.key.json', '--transfer-id', 'cli-tty-sigint'], {
        interact: (_output, input) => {
          void watcher
            .waitForNotification((n) => n.params['transferId'] === 'cli-tty-sigint' && n.params['state'] === 'running', 10_000)
            .then(() => new Promise((resolve) => setTimeout(resolve, 300)))
            .then(() => input.write('\x03'));
        },
      });
      await watcher.close();
      expect(run.code).toBe(130);
      const shown = run.stdout.replace(/\r\n/g, '\n');
      const noteAt = shown.indexOf('Cancelling the transfer…');
      expect(noteAt).toBeGreaterThan(0);
      // The bar's line ended before the note; nothing is drawn after it except the closing remark.
      expect(shown.slice(noteAt)).not.toMatch(/\r|\x1b\[/);
      expect(shown.slice(noteAt)).toContain('Cancelled: nothing was stored.');
      expect(shown.slice(0, noteAt)).toMatch(/\n$/);
    } finally {
      holds.releaseAll();
    }
  });

  it('a protected key on a terminal: the command asks for the passphrase (not echoed) and goes on', async () => {
    const passphrase = 'tty passphrase 17';
    expect((await cli(['keygen', 'tty-locked.key.json', '--passphrase-from-stdin'], { input: `${passphrase}\n` })).code).toBe(0);
    await fixture.file('prompted.bin', 2000);
    const run = await onTerminal(['upload', 'prompted.bin', '--key', 'tty-locked.key.json', '--no-progress'], {
      interact: (output, input) => {
        void waitFor(() => output().includes('Key passphrase: ')).then(() => input.write(`${passphrase}\r`));
      },
    });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('The key file is protected. Key passphrase: ');
    expect(run.stdout).toContain('Uploaded ');
    expect(run.stdout).not.toContain(passphrase);
    // Not a terminal: nothing is read unasked, the command fails with the key exit code and names the flag.
    const piped = await cl(['upload', 'prompted.bin', '--key', 'tty-locked.key.json', '--name', 'piped.bin']);
    expect(piped.code).toBe(4);
    expect(piped.stderr).toContain('--key-passphrase-from-stdin or CLOUDLOCKER_KEY_PASSPHRASE');
  });
});
