/**
 * The demo page in a real, headless Chromium (Debian's, driven by
 * playwright-core): loaded from a local origin the service allowlists, and
 * trusting the service's self-signed certificate only through its SPKI hash,
 * as an Electron app pins it. It uploads a 32 MiB file with a live progress
 * bar, lists it, downloads it, and the bytes are compared; a page from an
 * origin not on the allowlist cannot connect. Then the users and folders
 * parts (issues 14 and 16): unlock with a passphrase (gone from the page at
 * once), upload a folder with the unlocked identity, browse it by folder
 * with breadcrumbs, download it whole, add a contact, share a file with
 * them and unshare it, lock. Leaves screenshots in artifacts/browser/.
 *
 * Not part of `npm test` (it needs Chromium): `npm run test:browser`, which
 * builds first, since the page loads the compiled modules from dist/.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createIdentityFile } from '../../src/crypto/age/index.js';
import { startDemoServer, type DemoServer } from '../../tools/demo-ui/demo-server.js';
import { openClient } from '../helpers/server.js';
import { serviceFixture, type ServiceFixture } from '../client/fixtures.js';

const root = process.cwd();
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const SCREENSHOT = path.join(root, 'artifacts', 'browser', 'finished.png');
const MiB = 1024 * 1024;

let page: DemoServer;
let strangerPage: DemoServer;
let fixture: ServiceFixture;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(path.join(root, 'dist', 'tools', 'demo-ui', 'app.js'))) throw new Error('dist/ is missing: run `npm run build` (npm run test:browser does).');
  page = await startDemoServer({ root });
  strangerPage = await startDemoServer({ root });
  // Slow enough, with frequent notifications, for a bar that visibly moves.
  fixture = await serviceFixture({ allowOrigins: [page.origin], slowMs: 20, progressIntervalMs: 20 });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--ignore-certificate-errors-spki-list=${fixture.server.certificate.spkiSha256}`,
    ],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await page?.close();
  await strangerPage?.close();
  await fixture?.cleanup();
});

async function openDemo(server: DemoServer): Promise<Page> {
  const tab = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const problems: string[] = [];
  tab.on('pageerror', (err) => problems.push(err.message));
  await tab.goto(server.pageUrl({ url: fixture.server.url, token: fixture.server.token }));
  expect(problems).toEqual([]);
  return tab;
}

it('uploads 32 MiB with a moving progress bar, lists it, downloads it intact', async () => {
  const { path: source, bytes } = await fixture.file('big.bin', 32 * MiB);
  const keyPath = path.join(fixture.filesDir, 'big.key.json');
  const copy = path.join(fixture.filesDir, 'big.copy');
  const tab = await openDemo(page);
  await tab.waitForSelector('#status[data-state="open"]', { timeout: 10_000 });

  // Every value any progress bar takes, as the page sets it.
  await tab.evaluate(() => {
    const seen: string[] = [];
    (window as unknown as { progressValues: string[] }).progressValues = seen;
    new MutationObserver((records) => {
      for (const record of records) {
        if (record.target instanceof HTMLProgressElement) seen.push(record.target.getAttribute('value') ?? '');
      }
    }).observe(document.getElementById('transfers') as HTMLElement, { subtree: true, attributes: true, attributeFilter: ['value'] });
  });
  await tab.fill('#upload-path', source);
  await tab.fill('#upload-key', keyPath);
  await tab.click('#upload-button');
  await tab.waitForSelector('#transfers li[data-state="completed"]', { timeout: 20_000 });
  const values = await tab.evaluate(() => (window as unknown as { progressValues: string[] }).progressValues);
  const distinct = [...new Set(values)].map(Number);
  expect(distinct.length).toBeGreaterThanOrEqual(3);
  expect(distinct).toEqual([...distinct].sort((a, b) => a - b));
  expect(distinct.at(-1)).toBe(100);

  await tab.waitForSelector('#files tr[data-name="big.bin"]');
  expect(await tab.textContent('#files tr[data-name="big.bin"]')).toContain('32.0 MiB');

  await tab.click('#files tr[data-name="big.bin"] button:has-text("Download")');
  expect(await tab.inputValue('#download-name')).toBe('big.bin');
  await tab.fill('#download-dest', copy);
  await tab.fill('#download-key', keyPath);
  await tab.click('#download-button');
  await tab.waitForFunction(() => document.getElementById('log')?.textContent?.includes('downloaded big.bin') === true, undefined, { timeout: 20_000 });
  expect((await readFile(copy)).equals(bytes)).toBe(true);
  expect(await tab.locator('#transfers li[data-state="completed"]').count()).toBe(2);

  await mkdir(path.dirname(SCREENSHOT), { recursive: true });
  await tab.screenshot({ path: SCREENSHOT, fullPage: true });
  await tab.close();
}, 60_000);

it('shows the reconnect indicator while the service restarts, then lists the files again', async () => {
  const tab = await openDemo(page);
  await tab.waitForSelector('#status[data-state="open"]', { timeout: 10_000 });
  const { server } = fixture;
  await server.close();
  await tab.waitForSelector('#status[data-state="reconnecting"]', { timeout: 10_000 });
  expect(await tab.textContent('#status')).toMatch(/^reconnecting \(attempt \d+, in \d+\.\d s\)…$/);
  await tab.screenshot({ path: path.join(path.dirname(SCREENSHOT), 'reconnecting.png') });
  await fixture.start({ port: server.port, token: server.token, allowOrigins: [page.origin] });
  await tab.waitForSelector('#status[data-state="open"]', { timeout: 15_000 });
  await tab.waitForSelector('#files tr[data-name="big.bin"]');
  await tab.close();
}, 30_000);

it('cannot connect from an origin the service does not allow, even with the right token', async () => {
  const tab = await openDemo(strangerPage);
  await tab.waitForSelector('#status[data-state="failed"]', { timeout: 10_000 });
  expect(await tab.textContent('#log')).toContain('Could not connect');
  await tab.close();
  const refusals = fixture.server.logs.lines
    .map((line) => JSON.parse(line) as { msg?: string; status?: number })
    .filter((entry) => entry.msg === 'refused a WebSocket handshake');
  expect(refusals).toEqual([expect.objectContaining({ status: 403 })]);
  expect(fixture.server.logs.text()).not.toContain(fixture.server.token);
});

it('unlock, upload a folder, browse it, download it, add a contact, share and unshare a file, lock', async () => {
  const passphrase = 'violet tractor mango harbour 47 quietly';
  const keyPath = path.join(fixture.filesDir, 'me.age');
  const me = await createIdentityFile(keyPath, { passphrase, scryptLogN: 10 });
  const friend = await createIdentityFile(path.join(fixture.filesDir, 'friend.age'));
  const album = path.join(fixture.filesDir, 'album');
  await mkdir(path.join(album, 'inner'), { recursive: true });
  await writeFile(path.join(album, 'one.txt'), 'one');
  await writeFile(path.join(album, 'inner', 'two.txt'), 'two, nested');
  const restored = path.join(fixture.filesDir, 'restored');
  await mkdir(restored);
  const logged = (text: string) =>
    tab.waitForFunction((wanted) => document.getElementById('log')?.textContent?.includes(wanted) === true, text, { timeout: 20_000 });

  const tab = await openDemo(page);
  await tab.waitForSelector('#status[data-state="open"]', { timeout: 10_000 });
  await tab.waitForSelector('#identity-card[data-unlocked="false"]');
  expect(await tab.isDisabled('#lock-button')).toBe(true);

  // Unlock: the passphrase field is emptied at once and the passphrase is nowhere in the page or the log.
  await tab.fill('#unlock-key', keyPath);
  await tab.fill('#unlock-passphrase', passphrase);
  await tab.click('#unlock-button');
  expect(await tab.inputValue('#unlock-passphrase')).toBe('');
  await tab.waitForSelector('#identity-card[data-unlocked="true"]', { timeout: 10_000 });
  expect(await tab.textContent('#identity-card-id')).toBe(me.cardId);
  expect(await tab.textContent('#identity-card')).toContain(me.card);
  expect(await tab.content()).not.toContain(passphrase);
  expect(fixture.server.logs.text()).not.toContain(passphrase);

  // A folder, uploaded with no key file given: the unlocked identity.
  await tab.fill('#upload-folder-path', album);
  await tab.click('#upload-folder-button');
  await logged('uploaded folder album/: 2 of 2 files');

  // Browse: the top shows the folder; open it, then its sub-folder; breadcrumbs lead back.
  await tab.click('#refresh-button');
  await tab.click('#files tr[data-folder="album/"] button:has-text("Open")');
  await tab.waitForSelector('#files tr[data-name="album/one.txt"]');
  await tab.waitForSelector('#files tr[data-folder="album/inner/"]');
  expect(await tab.locator('#files tr[data-name="big.bin"]').count()).toBe(0);
  await tab.click('#files tr[data-folder="album/inner/"] button:has-text("Open")');
  await tab.waitForSelector('#files tr[data-name="album/inner/two.txt"]');
  expect(await tab.textContent('#breadcrumbs')).toBe('All files / album / inner');
  await tab.click('#breadcrumbs button[data-prefix="album/"]');
  await tab.waitForSelector('#files tr[data-name="album/one.txt"]');

  // Download the folder whole (picked from its row), again with the unlocked identity.
  await tab.click('#breadcrumbs button[data-prefix=""]');
  await tab.click('#files tr[data-folder="album/"] button:has-text("Download folder")');
  expect(await tab.inputValue('#download-folder-name')).toBe('album');
  await tab.fill('#download-folder-dest', restored);
  await tab.click('#download-folder-button');
  await logged('downloaded folder album/: 2 of 2 files');
  expect(await readFile(path.join(restored, 'album', 'one.txt'), 'utf8')).toBe('one');
  expect(await readFile(path.join(restored, 'album', 'inner', 'two.txt'), 'utf8')).toBe('two, nested');

  // A contact, then share a file with them (one more stanza in its header) and take it back.
  await tab.fill('#contact-name', 'Friend');
  await tab.fill('#contact-card', friend.card);
  await tab.click('#contact-button');
  await tab.waitForSelector('#contacts li[data-name="Friend"]');
  expect(await tab.textContent('#contacts li[data-name="Friend"]')).toContain(friend.cardId);
  const observer = await openClient(fixture.server);
  try {
    expect(await observer.request('getFileInfo', { name: 'album/one.txt' })).toMatchObject({ stanzaCount: 2 });
    // Still at the top, where the folder download was picked.
    expect(await tab.isDisabled('#breadcrumbs button[data-prefix=""]')).toBe(true);
    await tab.click('#files tr[data-folder="album/"] button:has-text("Open")');
    await tab.click('#files tr[data-name="album/one.txt"] button:has-text("Share")');
    expect(await tab.inputValue('#share-name')).toBe('album/one.txt');
    expect(await tab.inputValue('#share-with')).toBe('Friend');
    await tab.click('#share-button');
    await logged('shared album/one.txt with Friend (2 recipients)');
    expect(await observer.request('getFileInfo', { name: 'album/one.txt' })).toMatchObject({ stanzaCount: 3 });
    await tab.click('#unshare-button');
    await logged('unshared album/one.txt: 1 recipient(s) left');
    expect(await observer.request('getFileInfo', { name: 'album/one.txt' })).toMatchObject({ stanzaCount: 2 });
  } finally {
    await observer.close();
  }

  await tab.screenshot({ path: path.join(path.dirname(SCREENSHOT), 'users-folders.png'), fullPage: true });
  await tab.click('#lock-button');
  await tab.waitForSelector('#identity-card[data-unlocked="false"]', { timeout: 10_000 });
  await logged('identity locked (lock)');
  await tab.close();
}, 60_000);
