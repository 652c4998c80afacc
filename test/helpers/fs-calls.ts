/**
 * Watching and holding calls of node:fs's callback API, for tests of code
 * that works on plain descriptors (src/fs/descriptors.ts).
 */
import fsCallbacks from 'node:fs';
import { jest } from '@jest/globals';

/** What a test saw, in order: a step name each, and the inode that step was about. */
export interface FsStepLog {
  readonly steps: string[];
  readonly inodes: number[];
}

/**
 * Records every fsync as "fsync file" or "fsync folder" with the inode of
 * the descriptor's file, once the real fsync has ended. Restore the spy.
 */
export function recordFsyncs(log: FsStepLog) {
  const realFsync = fsCallbacks.fsync;
  return jest.spyOn(fsCallbacks, 'fsync').mockImplementation(((fd: number, callback: (err: NodeJS.ErrnoException | null) => void) => {
    const stats = fsCallbacks.fstatSync(fd);
    const kind = stats.isDirectory() ? 'fsync folder' : 'fsync file';
    realFsync(fd, (err) => {
      log.steps.push(kind);
      log.inodes.push(stats.ino);
      callback(err);
    });
  }) as never);
}

/** The inodes of the files fsynced among steps [start, end). */
export function filesFsyncedBetween(log: FsStepLog, start: number, end: number): number[] {
  return log.steps.slice(start, end).flatMap((step, i) => (step === 'fsync file' ? [log.inodes[start + i] as number] : []));
}

/**
 * Holds the next call of `method` (a read or write): its callback runs,
 * with `result` as the byte count, only when release() is called. Restore the spy.
 */
export function holdNextCall(method: 'read' | 'write' | 'writev', result: number) {
  let callback: ((err: null, bytes: number) => void) | undefined;
  const spy = jest.spyOn(fsCallbacks, method).mockImplementationOnce(((...args: unknown[]) => {
    callback = args[args.length - 1] as (err: null, bytes: number) => void;
  }) as never);
  return { spy, release: () => callback?.(null, result) };
}
