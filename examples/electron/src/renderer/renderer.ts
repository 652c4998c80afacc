/** The page: the browser client, with the URL and token from the preload at every (re)connect. */
// [renderer]
import { connect } from 'cloudlocker/client/browser';

interface CloudlockerBridge {
  connection(): Promise<{ url: string; token: string }>;
}
declare global {
  interface Window {
    readonly cloudlocker: CloudlockerBridge;
  }
}

const client = await connect({ endpoint: () => window.cloudlocker.connection() });
client.onStateChange(({ state }) => {
  document.getElementById('state')!.textContent = state;
});
const { files } = await client.request('listFiles', {});
document.getElementById('files')!.replaceChildren(
  ...files.map((file) => Object.assign(document.createElement('li'), { textContent: `${file.name} (${file.size} bytes)` })),
);
// [/renderer]
