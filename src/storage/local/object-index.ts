/**
 * The in-memory list of objects in the local store, sorted in UTF-8 byte
 * order. Listing a page is a binary search and a slice, so it costs the same
 * at the start and at the end of 100 000 objects; the file system is walked
 * once, at init. Insert and delete move array elements (memmove), which stays
 * in the microseconds up to a few hundred thousand objects.
 */
import type { ObjectInfo } from '../storage.js';
import { afterFolder, compareUtf8 } from '../names.js';

export interface IndexPageOptions {
  readonly prefix: string;
  /** Only names strictly after this one (the cursor's name). */
  readonly after?: string;
  readonly limit: number;
}

export interface IndexPage {
  readonly objects: ObjectInfo[];
  /** True when more names with the prefix follow the last one returned. */
  readonly hasMore: boolean;
}

/** A page of a folder view: the files directly under the prefix and its sub-folders, in one byte order. */
export interface IndexFolderPage {
  readonly objects: ObjectInfo[];
  readonly folders: Array<{ readonly name: string; readonly objectCount: number }>;
  /** The last entry (a name, or a folder ending in "/") when more follow; undefined on the last page. */
  readonly nextAfter: string | undefined;
}

export class ObjectIndex {
  private names: string[] = [];
  private readonly infos = new Map<string, ObjectInfo>();

  get size(): number {
    return this.names.length;
  }

  /** Replace the whole content (after a walk of the store). */
  reset(objects: Iterable<ObjectInfo>): void {
    this.infos.clear();
    for (const info of objects) this.infos.set(info.name, info);
    this.names = [...this.infos.keys()].sort(compareUtf8);
  }

  get(name: string): ObjectInfo | undefined {
    return this.infos.get(name);
  }

  set(info: ObjectInfo): void {
    if (!this.infos.has(info.name)) this.names.splice(this.lowerBound(info.name), 0, info.name);
    this.infos.set(info.name, info);
  }

  delete(name: string): void {
    if (!this.infos.delete(name)) return;
    this.names.splice(this.lowerBound(name), 1);
  }

  page(options: IndexPageOptions): IndexPage {
    const { prefix, after, limit } = options;
    let start = this.lowerBound(prefix);
    if (after !== undefined && compareUtf8(after, prefix) >= 0) start = this.upperBound(after);
    const objects: ObjectInfo[] = [];
    let i = start;
    for (; i < this.names.length && objects.length < limit; i++) {
      const name = this.names[i];
      // Names with the prefix are contiguous in this order, so the first miss ends the run.
      if (!name.startsWith(prefix)) return { objects, hasMore: false };
      objects.push(this.infos.get(name) as ObjectInfo);
    }
    return { objects, hasMore: i < this.names.length && this.names[i].startsWith(prefix) };
  }

  /**
   * A folder view ("/" as the delimiter): each sub-folder is one entry, its
   * object count found by two binary searches, and the scan jumps past it,
   * so a page costs O(limit log n) however many objects the folders hold.
   * `after` may be a folder (ending in "/"): the page then starts past it.
   */
  folderPage(options: IndexPageOptions): IndexFolderPage {
    const { prefix, after, limit } = options;
    let i = this.lowerBound(prefix);
    if (after !== undefined && compareUtf8(after, prefix) >= 0) {
      i = after.endsWith('/') ? this.lowerBound(afterFolder(after)) : this.upperBound(after);
    }
    const objects: ObjectInfo[] = [];
    const folders: Array<{ name: string; objectCount: number }> = [];
    let last: string | undefined;
    while (i < this.names.length && objects.length + folders.length < limit) {
      const name = this.names[i];
      if (!name.startsWith(prefix)) return { objects, folders, nextAfter: undefined };
      const slash = name.indexOf('/', prefix.length);
      if (slash < 0) {
        objects.push(this.infos.get(name) as ObjectInfo);
        last = name;
        i += 1;
      } else {
        const folder = name.slice(0, slash + 1);
        const end = this.lowerBound(afterFolder(folder));
        folders.push({ name: folder, objectCount: end - i });
        last = folder;
        i = end;
      }
    }
    const more = i < this.names.length && this.names[i].startsWith(prefix);
    return { objects, folders, nextAfter: more ? last : undefined };
  }

  /** First position whose name is >= `name`. */
  private lowerBound(name: string): number {
    let low = 0;
    let high = this.names.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (compareUtf8(this.names[mid], name) < 0) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  /** First position whose name is > `name`. */
  private upperBound(name: string): number {
    let low = 0;
    let high = this.names.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (compareUtf8(this.names[mid], name) <= 0) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}
