/**
 * Plain file descriptors through Node's callback API, for the files a
 * transfer opens by the thousand (a folder of small files): no FileHandle
 * and its promise per call (docs/benchmarks.md, sf8). Each call looks its
 * function up on the `node:fs` module object, so that a test can watch or
 * fail it. Classes holding a descriptor count their calls in flight
 * (in-flight.ts) and close only once none is.
 */
import fsCallbacks from 'node:fs';

/** open(2) through the thread pool, as a descriptor. */
export function openDescriptor(file: string, flags: string | number, mode?: number): Promise<number> {
  return new Promise((resolve, reject) => fsCallbacks.open(file, flags, mode, (err, fd) => (err ? reject(err) : resolve(fd))));
}

/** close(2) through the thread pool. */
export function closeDescriptor(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsCallbacks.close(fd, (err) => (err ? reject(err) : resolve())));
}

/**
 * The error for a call on a descriptor already closed, refused without
 * reaching the OS (which may have given the number to another file).
 */
export function closedDescriptorError(what: string, syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`EBADF: ${what} was closed`), { code: 'EBADF', syscall });
}
