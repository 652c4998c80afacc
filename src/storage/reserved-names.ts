/**
 * The store's reserved names: everything under `.cloudlocker/` belongs to
 * the service itself (today: the passphrase-protected identity copies,
 * `.cloudlocker/identities/<user name>`). No file method may see or touch
 * them: this is the one place that says so.
 *
 * The rule itself is protocol/names.ts's (so params naming one are refused
 * at validation, before any key file is read); this guard is what makes it
 * hold for every storage call whatever the caller checked.
 *
 * guardReservedNames wraps a backend for the file methods and the transfer
 * engine: every call that is given a reserved name (as any string argument,
 * so a method added to the Storage contract later is covered too) is refused
 * with -32602, and listings leave reserved names out (filling the page from
 * the next ones, so a page is short only at the end). The identity-copy
 * methods use the unwrapped backend.
 */
import { InvalidParamsError } from '../errors.js';
import { encodeNameCursor } from './names.js';
import type { ListOptions, ListPage, ObjectInfo, Storage } from './storage.js';

import { RESERVED_NAME_PREFIX, isReservedName } from '../../protocol/names.js';

export { isReservedName };
export const RESERVED_PREFIX = RESERVED_NAME_PREFIX;

function refuse(): InvalidParamsError {
  return new InvalidParamsError(
    `Names starting with "${RESERVED_PREFIX}" are reserved for the service's own use: choose another name.`,
    'name',
    { problem: `must not start with "${RESERVED_PREFIX}" (reserved)` },
  );
}

async function listVisible(storage: Storage, options: ListOptions): Promise<ListPage> {
  // Every name under this prefix is reserved: nothing to show.
  if (options.prefix !== undefined && isReservedName(options.prefix)) {
    return { objects: [], ...(options.delimiter === undefined ? {} : { folders: [] }), nextCursor: null };
  }
  if (options.delimiter !== undefined) {
    // Folder view: everything reserved sits under one folder (".cloudlocker/", listed at the
    // root), so dropping it makes that one page at most one entry short; the backend's cursor
    // (it may stand for a folder) is kept as it is.
    const page = await storage.list(options);
    return {
      objects: page.objects.filter((object) => !isReservedName(object.name)),
      folders: (page.folders ?? []).filter((folder) => !isReservedName(folder.name)),
      nextCursor: page.nextCursor,
    };
  }
  const objects: ObjectInfo[] = [];
  let cursor = options.cursor;
  for (;;) {
    const page = await storage.list({ ...options, ...(cursor === undefined ? {} : { cursor }) });
    for (const [index, object] of page.objects.entries()) {
      if (isReservedName(object.name)) continue;
      objects.push(object);
      if (objects.length === options.limit) {
        const lastOfAll = page.nextCursor === null && index === page.objects.length - 1;
        return { objects, nextCursor: lastOfAll ? null : encodeNameCursor(object.name) };
      }
    }
    if (page.nextCursor === null) return { objects, nextCursor: null };
    cursor = page.nextCursor;
  }
}

// eslint-disable-next-line require-yield
async function* refusedStream(): AsyncGenerator<Uint8Array> {
  throw refuse();
}

/** `storage` as the file methods must see it: reserved names neither listed nor reachable. */
export function guardReservedNames<S extends Storage>(storage: S): S {
  return new Proxy(storage, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      if (property === 'list') return (options: ListOptions) => listVisible(target, options);
      return (...args: unknown[]) => {
        if (args.some((arg) => typeof arg === 'string' && isReservedName(arg))) {
          // Keep the contract's shape: a stream fails when iterated, the others reject.
          if (property === 'readRangeStream') return refusedStream();
          return Promise.reject(refuse());
        }
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}
