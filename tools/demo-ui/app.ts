/**
 * The demo page's module: the browser client driving a small file manager.
 * Served as dist/tools/demo-ui/app.js next to dist/src/client and dist/protocol
 * (no bundler). Connection details come from the page's URL fragment
 * (`#url=…&token=…`, never sent to any server); an Electron app would get them
 * from its preload instead (docs/electron.md).
 *
 * Besides files: the unlocked identity (unlock box, lock, its card), contacts,
 * sharing, and folders (upload, browse with breadcrumbs, download). A
 * passphrase is read from its password field and the field is emptied at
 * once, before the request is sent; it is never logged or put in the DOM.
 */
import {
  connect,
  isRpcError,
  newTransferId,
  type CloudlockerClient,
  type Contact,
  type EventInfo,
  type FileEntry,
  type FolderEntry,
  type GetIdentityResult,
  type IdentityChangedParams,
  type ListFilesResult,
  type StateChange,
  type TransferFinishedParams,
  type TransferProgressParams,
} from '../../src/client/browser.js';
import { IdentityChanged } from '../../protocol/index.js';

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`missing #${id}`);
  return found as T;
}

const statusBadge = element<HTMLSpanElement>('status');
const transfersList = element<HTMLUListElement>('transfers');
const filesBody = element<HTMLTableSectionElement>('files');
const logBox = element<HTMLPreElement>('log');
const breadcrumbs = element<HTMLElement>('breadcrumbs');
const identityCard = element<HTMLDivElement>('identity-card');
const contactsList = element<HTMLUListElement>('contacts');
const shareWith = element<HTMLSelectElement>('share-with');
const lockButton = element<HTMLButtonElement>('lock-button');
const input = (id: string) => element<HTMLInputElement>(id);

/** Transfers that are one file of a folder's group (their finish is not shown on a row of its own). */
const groupMembers = new Set<string>();

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
  // A folder's files are shown through their group's row (its current file), not one row each.
  if (progress.groupId !== undefined) {
    groupMembers.add(progress.transferId);
    return;
  }
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
    const group = progress.group === undefined ? '' : ` · ${progress.group.filesDone} of ${progress.group.filesTotal} files${progress.group.currentFile === undefined ? '' : ` (${progress.group.currentFile})`}`;
    numbers.textContent = ` · ${formatBytes(done)} of ${formatBytes(progress.totalBytes)}${group}${speed}${resynced}`;
  }
}

function renderFinished(finished: TransferFinishedParams, info: EventInfo): void {
  if (groupMembers.delete(finished.transferId)) return;
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

/** The folder shown: '' for the top, else a prefix ending in "/" (listFiles' folder view). */
let currentFolder = '';

async function refreshFiles(): Promise<void> {
  if (client === undefined) return;
  const folder = currentFolder;
  const rows: HTMLTableRowElement[] = [];
  let cursor: string | null = null;
  do {
    const page: ListFilesResult = await client.request('listFiles', { delimiter: '/', ...(folder === '' ? {} : { prefix: folder }), ...(cursor === null ? {} : { cursor }) });
    for (const sub of page.folders ?? []) rows.push(folderRow(sub, folder));
    for (const file of page.files) rows.push(fileRow(file, folder));
    cursor = page.nextCursor;
  } while (cursor !== null);
  // Another folder was opened meanwhile: that listing wins.
  if (folder !== currentFolder) return;
  renderBreadcrumbs();
  filesBody.replaceChildren(...rows);
  if (rows.length === 0) {
    const empty = document.createElement('tr');
    empty.innerHTML = '<td colspan="4" class="empty">No files stored here yet.</td>';
    filesBody.append(empty);
  }
}

function openFolder(prefix: string): void {
  currentFolder = prefix;
  refreshFiles().catch((err: unknown) => log(`list: ${(err as Error).message}`));
}

/** "All files / photos / 2026": each crumb opens its folder. */
function renderBreadcrumbs(): void {
  const crumbs: HTMLElement[] = [];
  const segments = currentFolder.split('/').filter((segment) => segment !== '');
  const crumb = (label: string, prefix: string, last: boolean) => {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = label;
    button.dataset['prefix'] = prefix;
    if (last) button.disabled = true;
    else button.addEventListener('click', () => openFolder(prefix));
    return button;
  };
  crumbs.push(crumb('All files', '', segments.length === 0));
  segments.forEach((segment, index) => {
    crumbs.push(document.createTextNode(' / ') as unknown as HTMLElement);
    crumbs.push(crumb(segment, `${segments.slice(0, index + 1).join('/')}/`, index === segments.length - 1));
  });
  breadcrumbs.replaceChildren(...crumbs);
}

function folderRow(folder: FolderEntry, parent: string): HTMLTableRowElement {
  const row = document.createElement('tr');
  row.dataset['folder'] = folder.name;
  const label = document.createElement('td');
  label.textContent = folder.name.slice(parent.length);
  const count = document.createElement('td');
  count.className = 'size';
  count.textContent = folder.fileCount === undefined ? '' : `${folder.fileCount} files`;
  const actions = document.createElement('td');
  const open = document.createElement('button');
  open.type = 'button';
  open.textContent = 'Open';
  open.addEventListener('click', () => openFolder(folder.name));
  const pick = document.createElement('button');
  pick.type = 'button';
  pick.textContent = 'Download folder…';
  pick.addEventListener('click', () => {
    input('download-folder-name').value = folder.name.replace(/\/$/, '');
    input('download-folder-dest').focus();
  });
  actions.append(open, ' ', pick);
  row.append(label, count, document.createElement('td'), actions);
  return row;
}

function fileRow(file: FileEntry, parent: string): HTMLTableRowElement {
  const row = document.createElement('tr');
  row.dataset['name'] = file.name;
  const cells = [file.name.slice(parent.length), formatBytes(file.size), new Date(file.modifiedAt).toLocaleString()].map((text) => {
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
  const share = document.createElement('button');
  share.type = 'button';
  share.textContent = 'Share…';
  share.addEventListener('click', () => {
    input('share-name').value = file.name;
    shareWith.focus();
  });
  actions.append(pick, ' ', share, ' ', remove);
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

/** A key file field left empty: no keyPath, so the service uses the unlocked identity. */
function optionalKey(id: string): { keyPath?: string } {
  const keyPath = input(id).value.trim();
  return keyPath === '' ? {} : { keyPath };
}

element<HTMLFormElement>('upload-form').addEventListener('submit', (event) => {
  event.preventDefault();
  if (client === undefined) return;
  const active = client;
  const name = input('upload-name').value.trim();
  const params = {
    path: input('upload-path').value.trim(),
    ...optionalKey('upload-key'),
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
    ...optionalKey('download-key'),
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

element<HTMLFormElement>('upload-folder-form').addEventListener('submit', (event) => {
  event.preventDefault();
  if (client === undefined) return;
  const active = client;
  const name = input('upload-folder-name').value.trim();
  const params = { path: input('upload-folder-path').value.trim(), ...optionalKey('upload-folder-key'), ...(name === '' ? {} : { name }) };
  startTransfer(
    'upload',
    (transferId, signal) => active.uploadFolder({ ...params, transferId }, { signal }),
    (result) => {
      const r = result as { name: string; size: number; filesStored?: number; filesTotal?: number; failed?: Array<{ path: string; error: { message: string } }> };
      const failed = (r.failed ?? []).map((failure) => `; not stored: ${failure.path}: ${failure.error.message}`).join('');
      return `uploaded folder ${r.name}/: ${r.filesStored ?? '?'} of ${r.filesTotal ?? '?'} files (${formatBytes(r.size)})${failed}`;
    },
  );
});

element<HTMLFormElement>('download-folder-form').addEventListener('submit', (event) => {
  event.preventDefault();
  if (client === undefined) return;
  const active = client;
  const params = {
    name: input('download-folder-name').value.trim().replace(/\/+$/, ''),
    destination: input('download-folder-dest').value.trim(),
    ...optionalKey('download-folder-key'),
    ...(input('download-folder-create').checked ? { createDirectories: true } : {}),
  };
  startTransfer(
    'download',
    (transferId, signal) => active.downloadFolder({ ...params, transferId }, { signal }),
    (result) => {
      const r = result as { name: string; size: number; path?: string; filesSaved?: number; filesTotal?: number; failed?: Array<{ path: string; error: { message: string } }> };
      const failed = (r.failed ?? []).map((failure) => `; not saved: ${failure.path}: ${failure.error.message}`).join('');
      return `downloaded folder ${r.name}/: ${r.filesSaved ?? '?'} of ${r.filesTotal ?? '?'} files${r.path === undefined ? '' : ` to ${r.path}`}${failed}`;
    },
  );
});

// ---------------------------------------------------------------------------
// Identity: unlock, lock, the card

function showIdentity(identity: GetIdentityResult | undefined): void {
  identityCard.dataset['unlocked'] = String(identity !== undefined);
  lockButton.disabled = identity === undefined;
  if (identity === undefined) {
    identityCard.textContent = 'Locked: no identity is unlocked.';
    return;
  }
  const list = document.createElement('dl');
  const facts: Array<[string, string]> = [
    ['Unlocked', identity.keyPath],
    ['Card id', identity.cardId],
    ['Type', identity.type],
    ['Card', identity.card],
  ];
  for (const [term, value] of facts) {
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    dd.textContent = value;
    if (term === 'Card id') dd.id = 'identity-card-id';
    list.append(dt, dd);
  }
  identityCard.replaceChildren(list);
}

async function refreshIdentity(): Promise<void> {
  if (client === undefined) return;
  try {
    showIdentity(await client.request('getIdentity', {}));
  } catch (err) {
    if (isRpcError(err, 'LOCKED')) showIdentity(undefined);
    else throw err;
  }
}

element<HTMLFormElement>('unlock-form').addEventListener('submit', (event) => {
  event.preventDefault();
  if (client === undefined) return;
  const keyPath = input('unlock-key').value.trim();
  // Out of the DOM before anything else happens; it lives only in this request's params.
  const field = input('unlock-passphrase');
  const passphrase = field.value;
  field.value = '';
  client
    .request('unlock', { keyPath, ...(passphrase === '' ? {} : { keyPassphrase: passphrase }) })
    .then((unlocked) => {
      log(`unlocked the identity ${unlocked.cardId}`);
      return refreshIdentity();
    })
    .catch((err: unknown) => log(`unlock: ${(err as Error).message}`));
});

lockButton.addEventListener('click', () => {
  client
    ?.request('lock', {})
    .then(() => refreshIdentity())
    .catch((err: unknown) => log(`lock: ${(err as Error).message}`));
});

function identityChanged(change: IdentityChangedParams): void {
  log(change.unlocked ? `identity ${change.cardId ?? ''} unlocked (${change.cause})` : `identity locked (${change.cause})`);
  refreshIdentity().catch((err: unknown) => log(`identity: ${(err as Error).message}`));
}

// ---------------------------------------------------------------------------
// Contacts and sharing

async function refreshContacts(): Promise<void> {
  if (client === undefined) return;
  const { contacts } = await client.request('listContacts', {});
  contactsList.replaceChildren(...contacts.map(contactRow));
  if (contacts.length === 0) {
    const empty = document.createElement('li');
    empty.className = 'empty';
    empty.textContent = 'No contacts yet.';
    contactsList.append(empty);
  }
  shareWith.replaceChildren(
    ...contacts.map((contact) => {
      const option = document.createElement('option');
      option.value = contact.name;
      option.textContent = contact.name;
      return option;
    }),
  );
}

function contactRow(contact: Contact): HTMLLIElement {
  const row = document.createElement('li');
  row.dataset['name'] = contact.name;
  const name = document.createElement('strong');
  name.textContent = contact.name;
  const cardId = document.createElement('span');
  cardId.className = 'card-id';
  cardId.textContent = contact.cardId;
  const remove = document.createElement('button');
  remove.type = 'button';
  remove.textContent = 'Remove';
  remove.addEventListener('click', () => {
    client
      ?.request('removeContact', { name: contact.name })
      .then(() => {
        log(`removed contact ${contact.name}`);
        return refreshContacts();
      })
      .catch((err: unknown) => log(`remove contact: ${(err as Error).message}`));
  });
  row.append(name, cardId, remove);
  return row;
}

element<HTMLFormElement>('contact-form').addEventListener('submit', (event) => {
  event.preventDefault();
  if (client === undefined) return;
  const name = input('contact-name').value.trim();
  const card = input('contact-card').value.trim();
  client
    .request('addContact', { name, card })
    .then((added) => {
      log(`added contact ${added.name} (${added.cardId})`);
      input('contact-name').value = '';
      input('contact-card').value = '';
      return refreshContacts();
    })
    .catch((err: unknown) => log(`add contact: ${(err as Error).message}`));
});

element<HTMLFormElement>('share-form').addEventListener('submit', (event) => {
  event.preventDefault();
  if (client === undefined) return;
  const name = input('share-name').value.trim();
  const contact = shareWith.value;
  if (contact === '') {
    log('share: add a contact first');
    return;
  }
  client
    .request('shareFile', { name, with: [contact] })
    .then((shared) => log(`shared ${shared.name} with ${contact} (${shared.recipientCount} recipients)`))
    .catch((err: unknown) => log(`share ${name}: ${(err as Error).message}`));
});

element<HTMLButtonElement>('unshare-button').addEventListener('click', () => {
  if (client === undefined) return;
  const name = input('share-name').value.trim();
  client
    .request('unshareFile', { name })
    .then((unshared) => log(`unshared ${unshared.name}: ${unshared.recipientCount} recipient(s) left`))
    .catch((err: unknown) => log(`unshare ${name}: ${(err as Error).message}`));
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
    if (change.state === 'open') {
      refreshFiles().catch(() => undefined);
      // A change made while disconnected is in no listing: after a reconnect, ask for the state.
      refreshIdentity().catch(() => undefined);
    }
  });
  client.onProgress(renderProgress);
  client.onFinished(renderFinished);
  client.on(IdentityChanged, identityChanged);
  const { transfers } = await client.request('listTransfers', {});
  for (const status of transfers) if (status.state === 'queued' || status.state === 'running') renderProgress({ ...status, seq: 0 }, { source: 'live' });
  const info = await client.request('getServerInfo');
  log(`connected to ${info.name} ${info.version} (${info.storage.kind} store at ${info.storage.location})`);
  await refreshFiles();
  await refreshIdentity();
  await refreshContacts();
}

void start();
