/**
 * The other way to run the service: in the main process itself, with
 * startCloudlocker() from the package (no child process; the service shares
 * the main process's event loop and heap). Use main.ts or this, not both.
 */
import path from 'node:path';
import { app, session } from 'electron';
import { DataDirInUseError, startCloudlocker, type RunningServer } from 'cloudlocker';
import { pinCertificate } from './pin.js';

// [in-process]
let service: RunningServer | undefined;

app.whenReady().then(async () => {
  try {
    service = await startCloudlocker({
      port: 0, // a free port; the URL says which
      dataDir: path.join(app.getPath('userData'), 'cloudlocker'),
      allowOrigins: ['app://cloudlocker'], // the origin of the app's pages
      env: {}, // ignore CLOUDLOCKER_* from the user's shell
      logLevel: 'warn',
    });
  } catch (err) {
    // One server per data directory, in this process or any other.
    if (err instanceof DataDirInUseError) app.exit(1);
    throw err;
  }
  // service.url, service.token, service.certificate.spkiSha256 are all here.
  pinCertificate(session.fromPartition('persist:cloudlocker'), service.url, service.certificate.spkiSha256);
});

app.on('before-quit', (event) => {
  if (service === undefined) return;
  event.preventDefault();
  const closing = service;
  service = undefined;
  void closing.close().finally(() => app.exit(0));
});
// [/in-process]
