/**
 * Runs the example app's main process (built by the test with `electron`
 * aliased to electron-stub.ts) under plain node, plays the app's life
 * (ready → the renderer asks for the connection → quit) and prints one line,
 * `REPORT {json}`, with what happened. See electron-example.integration.test.ts.
 *
 *   STUB_MAIN=<built main.mjs> STUB_APP_PATH=<app dir> STUB_USER_DATA=<dir> node <this, built>
 *
 * STUB_VARIANT=in-process: main-in-process.ts, which opens no window and has
 * no IPC handler; the driver waits for the pin and reads server.json instead.
 */
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { pathToFileURL } from 'node:url';
import { GetServerInfo } from '../../protocol/index.js';
import { connect } from '../../src/client/node.js';
import { stub } from './electron-stub.js';

const state = stub();
const report: Record<string, unknown> = {};
process.on('exit', () => {
  process.stdout.write(`REPORT ${JSON.stringify({ ...report, calls: state.calls })}\n`);
});

async function settle(run: () => unknown): Promise<unknown> {
  try {
    return { ok: await run() };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/** The certificate a TLS server presents, as PEM (what Chromium hands setCertificateVerifyProc as certificate.data). */
function presentedCertificate(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port, rejectUnauthorized: false }, () => {
      const der = socket.getPeerCertificate(false).raw;
      socket.destroy();
      resolve(`-----BEGIN CERTIFICATE-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`);
    });
    socket.once('error', reject);
  });
}

await import(pathToFileURL(process.env['STUB_MAIN']!).href);
const inProcess = process.env['STUB_VARIANT'] === 'in-process';
state.markReady();
const outcome = await Promise.race([
  once(inProcess ? state.pinned : state.windowCreated, inProcess ? 'pinned' : 'created').then(() => (inProcess ? 'pinned' : 'window')),
  once(state.exited, 'exit').then(([code]) => `app.exit(${String(code)})`),
]);
report['outcome'] = outcome;

if (outcome === 'window' || outcome === 'pinned') {
  const userData = process.env['STUB_USER_DATA']!;
  const serverJson = path.join(userData, 'cloudlocker', 'server.json');
  report['serverJsonWhileRunning'] = existsSync(serverJson);
  const readRecord = async () =>
    JSON.parse(await import('node:fs/promises').then(({ readFile }) => readFile(serverJson, 'utf8'))) as { url: string; token: string; certificate: { spkiSha256: string } };

  let fromApp: { ok?: { url: string; token: string } };
  if (inProcess) {
    const record = await readRecord();
    fromApp = { ok: { url: record.url, token: record.token } };
  } else {
    // The preload's ipcRenderer.invoke('cloudlocker:connection'), from the app's page and from elsewhere.
    const handler = state.ipcHandlers.get('cloudlocker:connection')!;
    fromApp = (await settle(() => handler({ senderFrame: { url: 'app://cloudlocker/index.html' } }))) as { ok?: { url: string; token: string } };
    report['ipcFromAppPage'] = fromApp.ok === undefined ? fromApp : { url: fromApp.ok.url, tokenLength: fromApp.ok.token.length };
    report['ipcFromOtherOrigin'] = await settle(() => handler({ senderFrame: { url: 'https://example.com/' } }));
    report['ipcWithoutFrame'] = await settle(() => handler({ senderFrame: null }));

    // The app:// scheme: the page, another host, an escape attempt.
    const serveApp = state.protocolHandlers.get('app')!;
    const answer = async (url: string) => {
      const result = (await settle(() => serveApp(new Request(url)))) as { ok?: Response; error?: string };
      return result.ok === undefined ? result : { status: result.ok.status, text: (await result.ok.text()).slice(0, 40) };
    };
    report['appIndex'] = await answer('app://cloudlocker/index.html');
    report['appOtherHost'] = await answer('app://other/index.html');
    report['appEscape'] = await answer('app://cloudlocker/..%2F..%2Fpackage.json');
  }

  if (fromApp.ok !== undefined) {
    const { url, token } = fromApp.ok;
    const endpoint = new URL(url);
    const pem = await presentedCertificate(endpoint.hostname, Number(endpoint.port));
    // The pin, as Chromium would call it for the service and for anything else.
    const verifyProc = state.sessions.get('persist:cloudlocker')?.verifyProc;
    const verify = (hostname: string, data: string) =>
      new Promise<number>((resolve) => verifyProc!({ hostname, certificate: { data } }, resolve));
    const other = await import('../../src/server/tls-certificate.js').then(({ loadOrCreateCertificate }) =>
      loadOrCreateCertificate({ dataDir: path.join(userData, 'another-certificate') }),
    );
    report['pin'] =
      verifyProc === undefined
        ? 'no verify proc'
        : {
            serviceCertificate: await verify(endpoint.hostname, pem),
            serviceCertificateOtherHost: await verify('localhost', pem),
            otherCertificateSameHost: await verify(endpoint.hostname, other.certPem),
          };
    // What the renderer does with url and token (here with the Node client, pinned the same way).
    const record = await readRecord();
    const client = await connect({ url, token, spkiSha256: record.certificate.spkiSha256 });
    const info = await client.request(GetServerInfo, {});
    report['serverInfo'] = { version: info.version, storage: info.storage.kind };
    await client.close();
  }

  // Quit: main holds it (before-quit), stops the service, then exits.
  const exited = once(state.exited, 'exit');
  (state.electron['app'] as { quit: () => void }).quit();
  const [code] = await exited;
  report['quit'] = {
    appExitCode: code,
    serviceExitCodes: state.forked.map((child) => child.exitCode()),
    serverJsonAfter: existsSync(serverJson),
  };
}
process.exit(0);
