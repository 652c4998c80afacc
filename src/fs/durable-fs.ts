/**
 * Making a rename or link survive a power cut needs an fsync of the
 * directory that holds the new name. It is best effort: Windows cannot open a
 * directory for syncing and some file systems refuse (EINVAL); by then the
 * file is already in place, so failing the operation would only mislead.
 */
import fsCallbacks, { closeSync, openSync } from 'node:fs';
import path from 'node:path';

/** fsync of a descriptor, looked up on the module object at each call so that a test can watch it. */
function fsyncFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsCallbacks.fsync(fd, (err) => (err ? reject(err) : resolve())));
}

export function syncDirectory(directory: string): Promise<void> {
  if (process.platform === 'win32') return Promise.resolve();
  return sharedSync(directory);
}

/**
 * Group commit per directory: a caller is answered by an fsync that began
 * after it called (so after its rename or link), never by one already under
 * way. While one fsync of a directory runs, every caller that comes for it
 * waits for the single next one, which then covers them all: a folder of
 * small files published four at a time costs about one directory fsync per
 * round instead of one per file, with the same guarantee for each.
 * `fsyncOne` must never reject. Exported for its test.
 */
export function groupCommit(fsyncOne: (directory: string) => Promise<void>): (directory: string) => Promise<void> {
  interface DirectorySyncs {
    /** The fsync that starts when the one under way ends, shared by every caller that came while it ran. */
    next: Promise<void> | undefined;
    /** Starts `next`. */
    startNext: (() => void) | undefined;
  }
  const syncsByDirectory = new Map<string, DirectorySyncs>();

  /** An fsync ended: start the one callers are waiting for, or forget the directory. */
  const afterSync = (directory: string, syncs: DirectorySyncs): void => {
    const { next, startNext } = syncs;
    if (next === undefined || startNext === undefined) {
      syncsByDirectory.delete(directory);
      return;
    }
    syncs.next = undefined;
    syncs.startNext = undefined;
    void next.then(() => afterSync(directory, syncs));
    startNext();
  };

  return (directory) => {
    const syncs = syncsByDirectory.get(directory);
    if (syncs === undefined) {
      const started: DirectorySyncs = { next: undefined, startNext: undefined };
      syncsByDirectory.set(directory, started);
      const running = fsyncOne(directory);
      void running.then(() => afterSync(directory, started));
      return running;
    }
    if (syncs.next === undefined) {
      const go = new Promise<void>((resolve) => (syncs.startNext = resolve));
      syncs.next = go.then(() => fsyncOne(directory));
    }
    return syncs.next;
  };
}

/**
 * One open + fsync + close of a directory; never rejects (best effort, see
 * above). Opening and closing a directory are metadata-only and take
 * microseconds: done synchronously, they do not queue in libuv's thread
 * pool behind the fsyncs in flight. The fsync itself stays asynchronous.
 */
async function fsyncOnce(directory: string): Promise<void> {
  let fd: number;
  try {
    fd = openSync(directory, 'r');
  } catch {
    return; // best effort, see above
  }
  try {
    await fsyncFd(fd);
  } catch {
    // best effort, see above
  } finally {
    try {
      closeSync(fd);
    } catch {
      // nothing to do
    }
  }
}

const sharedSync = groupCommit(fsyncOnce);

/**
 * syncDirectory for `to` and each directory above it up to `from`, so that a
 * new name and any directories just created for it survive a power cut.
 */
export async function syncDirectoryChain(from: string, to: string): Promise<void> {
  if (process.platform === 'win32') return;
  const chain = [to];
  for (let current = to; current !== from && path.dirname(current) !== current; ) {
    current = path.dirname(current);
    chain.push(current);
  }
  for (const directory of chain) await syncDirectory(directory);
}
