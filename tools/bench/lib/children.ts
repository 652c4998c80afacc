/**
 * Child processes a bench script started (servers, s3rver, the echo
 * server) are killed when the script exits, even when it fails half-way, so
 * that a crashed run leaves no server behind.
 */
import type { ChildProcess } from 'node:child_process';

const running = new Set<ChildProcess>();
let hooked = false;

export function killOnExit<C extends ChildProcess>(child: C): C {
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (!hooked) {
    hooked = true;
    process.once('exit', () => {
      for (const leftover of running) leftover.kill('SIGKILL');
    });
  }
  return child;
}
