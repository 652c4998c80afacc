/**
 * The demo page's module: the browser client driving a small file manager.
 * Served as dist/tools/demo-ui/app.js next to dist/src/client and dist/protocol
 * (no bundler). Connection details come from the page's URL fragment
 * (`#url=…&token=…`, never sent to any server); an Electron app would get them
 * from its preload instead (docs/electron.md).
 */
import {
  connect,
  newTransferId,
  type CloudlockerClient,
  type EventInfo,
  type FileEntry,
  type ListFilesResult,
  type StateChange,
  type TransferFinishedParams,
  type TransferProgressParams,
} from '../../src/client/browser.js';

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`missing #${id}`);
  return found as T;
}

const statusBadge = element<HTMLSpanElement>('status');
const transfersList = element<HTMLUListElement>('transfers');
const filesBody = element<HTMLTableSectionElement>('files');
const logBox = element<HTMLPreElement>('log');
const input = (id: string) => element<HTMLInputElement>(id);

/** Uploads and downloads started from this page, so Cancel can abort them (the client then cancels them in the service). */
const ownTransfers = new Map<string, AbortController>();

function log(message: string): void {
  const time = new Date().toLocaleTimeString();
  logBox.textContent = `${time}  ${message}\n${logBox.textContent ?? ''}`;
}

function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

function showState(change: StateChange): void {
  statusBadge.dataset['state'] = change.state;
  switch (change.state) {
    case 'open':
      statusBadge.textContent = 'connected';
      break;
    case 'reconnecting':
      statusBadge.textContent = `reconnecting (attempt ${change.attempt ?? '?'}, in ${((change.delayMs ?? 0) / 1000).toFixed(1)} s)…`;
      break;
    case 'closed':
      statusBadge.textContent = 'disconnected';
      break;
    default:
      statusBadge.textContent = 'connecting…';
  }
}

function showFailure(message: string): void {
  statusBadge.dataset['state'] = 'failed';
  statusBadge.textContent = 'could not connect';
  log(message);
}

// ---------------------------------------------------------------------------
// Transfers: one row per transfer, driven by notifications (from any client).

function transferRow(transferId: string, direction: string, name: string): HTMLLIElement {
  const existing = transfersList.querySelector<HTMLLIElement>(`li[data-transfer-id="${CSS.escape(transferId)}"]`);
  if (existing !== null) return existing;
  transfersList.querySelector('.empty')?.remove();
  const row = document.createElement('li');
  row.dataset['transferId'] = transferId;
  const label = document.createElement('span');
  label.className = 'label';
  label.textContent = `${direction === 'upload' ? '↑' : '↓'} ${name}`;
  const bar = document.createElement('progress');
  bar.max = 100;
  bar.value = 0;
  const cancel = document.createElement('button');
  cancel.type = 'button';
  cancel.textContent = 'Cancel';
  cancel.addEventListener('click', () => void cancelTransfer(transferId));
  const detail = document.createElement('span');
  detail.className = 'detail';
  const state = document.createElement('span');
  state.className = 'state';
  detail.append(state);
  const numbers = document.createElement('span');
  numbers.className = 'numbers';
  detail.append(numbers);
  row.append(label, bar, cancel, detail);
  transfersList.prepend(row);
  return row;
}

function renderProgress(progress: TransferProgressParams, info: EventInfo): void {
  const row = transferRow(progress.transferId, progress.direction, progress.name);
  const done = Math.min(progress.cryptoBytes, progress.transferredBytes);
  const percent = progress.totalBytes === 0 ? 100 : Math.floor((done / progress.totalBytes) * 100);
  row.dataset['state'] = progress.state;
  row.querySelector('progress')?.setAttribute('value', String(percent));
  const state = row.querySelector('.state');
  if (state !== null) state.textContent = `${progress.state} ${percent}%`;
  const numbers = row.querySelector('.numbers');
  if (numbers !== null) {
    const speed = progress.state === 'running' && progress.bytesPerSecond > 0 ? ` · ${formatBytes(progress.bytesPerSecond)}/s` : '';
    const resynced = info.source === 'resync' ? ' · (caught up after reconnecting)' : '';
    numbers.textContent = ` · ${formatBytes(done)} of ${formatBytes(progress.totalBytes)}${speed}${resynced}`;
  }
}

function renderFinished(finished: TransferFinishedParams, info: EventInfo): void {
  const row = transferRow(finished.transferId, finished.direction, finished.name);
  row.dataset['state'] = finished.outcome;
  if (finished.outcome === 'completed') row.querySelector('progress')?.setAttribute('value', '100');
  const state = row.querySelector('.state');
  if (state !== null) state.textContent = finished.outcome === 'completed' ? 'completed 100%' : finished.outcome;
  const numbers = row.querySelector('.numbers');
  if (numbers !== null && finished.error !== undefined) numbers.textContent = ` · ${finished.error.message}`;
  row.querySelector('button')?.setAttribute('disabled', '');
  const when = info.source === 'live' ? '' : info.source === 'resync' ? ' while this page was disconnected' : ' (lost when the service restarted)';
  log(`${finished.direction} ${finished.name}: ${finished.outcome}${when}`);
  if (finished.outcome === 'completed') void refreshFiles();
}

async function cancelTransfer(transferId: string): Promise<void> {
  const own = ownTransfers.get(transferId);
  if (own !== undefined) {
    own.abort();
    return;
  }
  try {
    await client?.request('cancelTransfer', { transferId });
  } catch (err) {
    log(`cancel ${transferId}: ${(err as Error).message}`);
  }
}

// ---------------------------------------------------------------------------
// Files

async function refreshFiles(): Promise<void> {
  if (client === undefined) return;
  const rows: HTMLTableRowElement[] = [];
  let cursor: string | null = null;
  do {
    const page: ListFilesResult = await client.request('listFiles', cursor === null ? {} : { cursor });
    for (const file of page.files) rows.push(fileRow(file));
    cursor = page.nextCursor;
  } while (cursor !== null);
  filesBody.replaceChildren(...rows);
  if (rows.length === 0) {
    const empty = document.createElement('tr');
    empty.innerHTML = '<td colspan="4" class="empty">No files stored yet.</td>';
    filesBody.append(empty);
  }
}

function fileRow(file: FileEntry): HTMLTableRowElement {
  const row = document.createElement('tr');
  row.dataset['name'] = file.name;
  const cells = [file.name, formatBytes(file.size), new Date(file.modifiedAt).toLocaleString()].map((text) => {
    const cell = document.createElement('td');
    cell.textContent = text;
    return cell;
  });
  cells[1]?.classList.add('size');
  const actions = document.createElement('td');
  const pick = document.createElement('button');
  pick.type = 'button';
  pick.textContent = 'Download…';
  pick.addEventListener('click', () => {
    input('download-name').value = file.name;
    input('download-dest').focus();
  });
  const remove = document.createElement('button');
  remove.type = 'button';
  remove.textContent = 'Delete';
  remove.addEventListener('click', () => {
    client
      ?.request('deleteFile', { name: file.name })
      .then(() => {
        log(`deleted ${file.name}`);
        return refreshFiles();
      })
      .catch((err: unknown) => log(`delete ${file.name}: ${(err as Error).message}`));
  });
  actions.append(pick, ' ', remove);
  row.append(...cells, actions);
  return row;
}

// ---------------------------------------------------------------------------
// Forms

function startTransfer(
  kind: 'upload' | 'download',
  run: (transferId: string, signal: AbortSignal) => Promise<unknown>,
  describe: (result: unknown) => string,
): void {
  const transferId = newTransferId();
  const controller = new AbortController();
  ownTransfers.set(transferId, controller);
  run(transferId, controller.signal)
    .then((result) => log(describe(result)))
    .catch((err: unknown) => log(`${kind} failed: ${(err as Error).message}`))
    .finally(() => ownTransfers.delete(transferId));
}

element<HTMLFormElement>('upload-form').addEventListener('submit', (event) => {
  event.preventDefault();
  if (client === undefined) return;
  const active = client;
  const name = input('upload-name').value.trim();
  const params = {
    path: input('upload-path').value.trim(),
    keyPath: input('upload-key').value.trim(),
    ...(name === '' ? {} : { name }),
    ...(input('upload-overwrite').checked ? { overwrite: true } : {}),
  };
  startTransfer(
    'upload',
    (transferId, signal) => active.upload({ ...params, transferId }, { signal }),
    (result) => {
      const r = result as { name: string; size: number; keyPath?: string; keyCreated?: boolean };
      return `uploaded ${r.name} (${formatBytes(r.size)})${r.keyCreated === true ? `; new key file ${r.keyPath ?? ''}: back it up` : ''}`;
    },
  );
});

element<HTMLFormElement>('download-form').addEventListener('submit', (event) => {
  event.preventDefault();
  if (client === undefined) return;
  const active = client;
  const params = {
    name: input('download-name').value.trim(),
    destination: input('download-dest').value.trim(),
    keyPath: input('download-key').value.trim(),
    ...(input('download-overwrite').checked ? { overwrite: true } : {}),
  };
  startTransfer(
    'download',
    (transferId, signal) => active.download({ ...params, transferId }, { signal }),
    (result) => {
      const r = result as { name: string; size: number; path?: string };
      return `downloaded ${r.name} (${formatBytes(r.size)})${r.path === undefined ? '' : ` to ${r.path}`}`;
    },
  );
});

element<HTMLButtonElement>('refresh-button').addEventListener('click', () => {
  refreshFiles().catch((err: unknown) => log(`list: ${(err as Error).message}`));
});

// ---------------------------------------------------------------------------
// Start

let client: CloudlockerClient | undefined;

async function start(): Promise<void> {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const url = fragment.get('url');
  const token = fragment.get('token');
  if (url === null || token === null) {
    showFailure('Open this page with the link "npm run demo" prints: it carries #url=…&token=… for the service.');
    return;
  }
  try {
    client = await connect({ url, token, reconnect: { initialDelayMs: 200, maxDelayMs: 5000 } });
  } catch (err) {
    showFailure((err as Error).message);
    return;
  }
  showState({ state: 'open' });
  client.onStateChange((change) => {
    showState(change);
    if (change.state === 'open') refreshFiles().catch(() => undefined);
  });
  client.onProgress(renderProgress);
  client.onFinished(renderFinished);
  const { transfers } = await client.request('listTransfers', {});
  for (const status of transfers) if (status.state === 'queued' || status.state === 'running') renderProgress({ ...status, seq: 0 }, { source: 'live' });
  const info = await client.request('getServerInfo');
  log(`connected to ${info.name} ${info.version} (${info.storage.kind} store at ${info.storage.location})`);
  await refreshFiles();
}

void start();
