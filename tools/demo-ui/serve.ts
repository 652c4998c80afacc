/**
 * `npm run demo`: serve the demo page on http://127.0.0.1 and start a
 * cloudlocker service that allows exactly that origin, then print the link to
 * open (it carries the service's URL and token in its fragment).
 *
 *   npm run demo                                # service in ./.data/demo, page on a free port
 *   npm run demo -- --port 5175 --data-dir DIR
 *   npm run demo -- --attach --port 5175 --data-dir DIR
 *       (use a service already running for DIR; it must have been started
 *        with --allow-origin http://127.0.0.1:5175)
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { discover } from '../../src/client/node.js';
import { startCloudlocker, type RunningServer } from '../../src/index.js';
import { startDemoServer } from './demo-server.js';

/** The repository root: the nearest parent with tools/demo-ui/index.html (this runs from dist/tools/demo-ui). */
function repositoryRoot(): string {
  let directory = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(directory, 'tools', 'demo-ui', 'index.html'))) {
    const parent = path.dirname(directory);
    if (parent === directory) throw new Error('cannot find the repository root (tools/demo-ui/index.html)');
    directory = parent;
  }
  return directory;
}

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'data-dir': { type: 'string' },
    attach: { type: 'boolean', default: false },
  },
});

const root = repositoryRoot();
const page = await startDemoServer({ root, port: Number(values.port) });
let service: RunningServer | undefined;
let connection: { url: string; token: string };

if (values.attach) {
  const found = await discover(values['data-dir'] === undefined ? {} : { dataDir: values['data-dir'] });
  connection = { url: found.url, token: found.token };
  process.stdout.write(`Using the service in ${found.dataDir}; it must allow this origin: --allow-origin ${page.origin}\n`);
} else {
  service = await startCloudlocker({
    port: 0,
    dataDir: path.resolve(values['data-dir'] ?? path.join(root, '.data', 'demo')),
    allowOrigins: [page.origin],
    logLevel: 'warn',
  });
  connection = { url: service.url, token: service.token };
  process.stdout.write(`cloudlocker service: ${service.url} (data in ${service.dataDir}, allowing ${page.origin})\n`);
}

process.stdout.write(`\nOpen the demo page (the link carries the token: do not share it):\n\n  ${page.pageUrl(connection)}\n\n`);
process.stdout.write(
  `A browser must trust the service's self-signed certificate, e.g. Chromium with\n  --ignore-certificate-errors-spki-list=${service?.certificate.spkiSha256 ?? '<certificate.spkiSha256 from server.json>'}\n` +
    'or open the wss URL as https:// once and accept the certificate. Ctrl+C stops.\n',
);

let stopping = false;
const stop = () => {
  if (stopping) process.exit(130);
  stopping = true;
  void Promise.all([page.close(), service?.close()]).finally(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
