import PQueue from 'p-queue';
import { MAX_LIST_LIMIT, type ListFiles } from '../../protocol/index.js';
import { storedFormats, type FormatRegistry } from '../crypto/index.js';
import { isCloudlockerError } from '../errors.js';
import type { Storage } from '../storage/storage.js';
import type { MethodHandler } from './handler.js';

/**
 * Header reads one listing runs at once: a page of up to 1000 age objects
 * costs up to 1000 small ranged reads, and firing them all together would
 * flood the store (and its connection pool) for one call.
 */
export const LIST_HEADER_READ_CONCURRENCY = 8;

/**
 * Listed sizes already read from headers, by name, kept while the object's
 * stored size and modification time stay the same (a replaced object has a
 * new time, and is read again). A folder view is listed again and again by
 * a UI; without this each listing of a 1 000-file folder of age objects
 * re-read 1 000 headers. At most LISTED_SIZE_CACHE_ENTRIES (oldest out
 * first: ~100 bytes each). A listed size is for display only, as before:
 * download and getFileInfo read and check the header themselves.
 */
export const LISTED_SIZE_CACHE_ENTRIES = 50_000;

class ListedSizeCache {
  private readonly entries = new Map<string, { storedSize: number; modifiedMs: number; size: number }>();

  get(name: string, storedSize: number, modifiedMs: number): number | undefined {
    const entry = this.entries.get(name);
    return entry !== undefined && entry.storedSize === storedSize && entry.modifiedMs === modifiedMs ? entry.size : undefined;
  }

  set(name: string, storedSize: number, modifiedMs: number, size: number): void {
    this.entries.delete(name);
    this.entries.set(name, { storedSize, modifiedMs, size });
    if (this.entries.size > LISTED_SIZE_CACHE_ENTRIES) this.entries.delete(this.entries.keys().next().value as string);
  }
}

export function createListFilesHandler(storage: Storage, formats: FormatRegistry = storedFormats): MethodHandler<typeof ListFiles> {
  const sizes = new ListedSizeCache();
  const listedSize = async (name: string, storedSize: number, modifiedMs: number): Promise<number> => {
    const known = sizes.get(name, storedSize, modifiedMs);
    if (known !== undefined) return known;
    const size = await listedPlaintextSize(storage, formats, name, storedSize);
    // 0 is also what a damaged or vanished object shows: not kept, so it is read again next time.
    if (size !== 0) sizes.set(name, storedSize, modifiedMs, size);
    return size;
  };
  return async (params) => {
    const headerReads = new PQueue({ concurrency: LIST_HEADER_READ_CONCURRENCY });
    const page = await storage.list({
      ...(params.prefix === undefined ? {} : { prefix: params.prefix }),
      ...(params.cursor === undefined ? {} : { cursor: params.cursor }),
      limit: params.limit ?? MAX_LIST_LIMIT,
      ...(params.delimiter === undefined ? {} : { delimiter: params.delimiter }),
    });
    return {
      files: await Promise.all(
        page.objects.map(async (object) => ({
          name: object.name,
          size: await headerReads.add(() => listedSize(object.name, object.storedSize, object.modifiedAt.getTime())),
          storedSize: object.storedSize,
          modifiedAt: object.modifiedAt.toISOString(),
        })),
      ),
      ...(page.folders === undefined
        ? {}
        : {
            folders: page.folders.map((folder) => ({
              name: folder.name,
              ...(folder.objectCount === undefined ? {} : { fileCount: folder.objectCount }),
            })),
          }),
      nextCursor: page.nextCursor,
    };
  };
}

/**
 * A listing shows every object, even one whose stored size no object of
 * any format can have (damaged, or not written by cloudlocker): its size
 * shows as 0, and getFileInfo or download report INTEGRITY for it.
 *
 * The size comes from the stored size alone when the registered formats
 * allow that (every one has a fixed header, as v1 alone does): no read.
 * Otherwise (a format whose header length varies, such as age, is
 * registered) the object's header is read to learn its format and header
 * length: one small ranged read per listed object (two for a header over
 * 4 KiB), at most LIST_HEADER_READ_CONCURRENCY at a time.
 */
export async function listedPlaintextSize(storage: Storage, formats: FormatRegistry, name: string, storedSize: number): Promise<number> {
  try {
    const fromSize = formats.plaintextSizeFromStoredSize(storedSize);
    if (fromSize !== undefined) return fromSize;
    const { layout } = await formats.readHeader((position, length) => storage.readRange(name, position, length));
    return layout.plaintextSizeFor(storedSize);
  } catch (err) {
    // Gone since it was listed, like a damaged one, shows as 0 rather than failing the page.
    if (isCloudlockerError(err, 'INTEGRITY') || isCloudlockerError(err, 'NOT_FOUND')) return 0;
    throw err;
  }
}
