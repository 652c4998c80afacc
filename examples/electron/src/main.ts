/**
 * The example app's main process: one app instance (requestSingleInstanceLock),
 * the service in a utility process (service.ts), the renderer served from
 * app://cloudlocker, the service's certificate pinned by SPKI in the window's
 * session, and the URL and token handed to the renderer through the preload.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { BrowserWindow, app, dialog, ipcMain, net, protocol, session } from 'electron';
import { pinCertificate } from './pin.js';
import { startService, stopService, type Service } from './service.js';

// [single-instance]
// A second launch hands over to the first and quits: one app, one service, one data directory.
// (The service refuses a second server on its data directory anyway: exit code 7.)
if (!app.requestSingleInstanceLock()) {
  app.quit();
  process.exit(0);
}
app.on('second-instance', () => {
  const [window] = BrowserWindow.getAllWindows();
  if (window?.isMinimized()) window.restore();
  window?.focus();
});
// [/single-instance]

const rendererDir = path.join(app.getAppPath(), 'dist', 'renderer');
let service: Service | undefined;

// [scheme]
protocol.registerSchemesAsPrivileged([{ scheme: 'app', privileges: { standard: true, secure: true, supportFetchAPI: true } }]);

function serveRenderer(): void {
  protocol.handle('app', (request) => {
    const { host, pathname } = new URL(request.url);
    if (host !== 'cloudlocker') return new Response('not found', { status: 404 });
    // Resolve inside the renderer directory only; refuse "..".
    const file = path.join(rendererDir, path.normalize(decodeURIComponent(pathname)));
    if (!file.startsWith(rendererDir + path.sep)) return new Response('not found', { status: 404 });
    return net.fetch(pathToFileURL(file).toString());
  });
}
// [/scheme]

// [token-handler]
ipcMain.handle('cloudlocker:connection', (event) => {
  // Only the app's own page. Compare protocol and host: in the main process URL is Node's, and to
  // Node 'app:' is not a special scheme, so new URL('app://cloudlocker/…').origin is "null".
  const from = event.senderFrame === null ? undefined : new URL(event.senderFrame.url);
  if (from?.protocol !== 'app:' || from.host !== 'cloudlocker') throw new Error('refused');
  if (service === undefined) throw new Error('the service is not running');
  return { url: service.url, token: service.token };
});
// [/token-handler]

// [window]
function createWindow(): BrowserWindow {
  const window = new BrowserWindow({
    width: 900,
    height: 600,
    webPreferences: {
      preload: path.join(app.getAppPath(), 'dist', 'preload.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      session: session.fromPartition('persist:cloudlocker'),
    },
  });
  void window.loadURL('app://cloudlocker/index.html'); // Origin: app://cloudlocker
  return window;
}
// [/window]

// [ready]
app.whenReady().then(async () => {
  serveRenderer();
  try {
    service = await startService();
  } catch (err) {
    dialog.showErrorBox('cloudlocker could not start', (err as Error).message);
    app.exit(1);
    return;
  }
  // The window's session trusts the service's key, and nothing else it would not trust anyway.
  pinCertificate(session.fromPartition('persist:cloudlocker'), service.url, service.spkiSha256);
  createWindow();
});
// [/ready]

// [quit]
// Stopping is async and 'will-quit' cannot wait: hold the quit, stop the service, then exit.
app.on('before-quit', (event) => {
  if (service === undefined) return;
  event.preventDefault();
  const running = service;
  service = undefined;
  void stopService(running).finally(() => app.exit(0));
});
// [/quit]

app.on('window-all-closed', () => app.quit());
