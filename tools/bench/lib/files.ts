/**
 * Test files and making outputs durable. cloudlocker fsyncs what it writes
 * (the stored object, the downloaded file) before it answers; cp, age and
 * rclone do not. Every timed command here is therefore followed, inside its
 * timed interval, by an fsync of what it wrote, so that all of them are
 * measured to the same point: the data is on the disk.
 */
import { randomFillSync } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

const PIECE = 4 * 1024 * 1024;

/** A file of `size` random bytes (incompressible, like the encrypted data it becomes). */
export async function createRandomFile(file: string, size: number): Promise<void> {
  const handle = await fs.open(file, 'w', 0o600);
  try {
    const buffer = Buffer.allocUnsafe(Math.min(PIECE, Math.max(size, 1)));
    for (let written = 0; written < size; ) {
      const length = Math.min(buffer.length, size - written);
      randomFillSync(buffer, 0, length);
      await handle.write(buffer, 0, length, written);
      written += length;
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** fsync a file, or every file under a directory (and the directories themselves). */
export async function fsyncPath(target: string): Promise<void> {
  const stats = await fs.stat(target);
  if (stats.isDirectory()) {
    for (const entry of await fs.readdir(target)) await fsyncPath(path.join(target, entry));
  }
  const handle = await fs.open(target, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function removePath(target: string): Promise<void> {
  await fs.rm(target, { recursive: true, force: true });
}

/** Total size of a file, or of every file under a directory. */
export async function sizeOf(target: string): Promise<number> {
  const stats = await fs.stat(target);
  if (!stats.isDirectory()) return stats.size;
  let total = 0;
  for (const entry of await fs.readdir(target)) total += await sizeOf(path.join(target, entry));
  return total;
}

export async function sameContent(a: string, b: string): Promise<boolean> {
  const [first, second] = await Promise.all([fs.open(a, 'r'), fs.open(b, 'r')]);
  try {
    const [sa, sb] = await Promise.all([first.stat(), second.stat()]);
    if (sa.size !== sb.size) return false;
    const x = Buffer.allocUnsafe(PIECE);
    const y = Buffer.allocUnsafe(PIECE);
    for (let at = 0; at < sa.size; at += PIECE) {
      const [ra, rb] = await Promise.all([first.read(x, 0, PIECE, at), second.read(y, 0, PIECE, at)]);
      if (ra.bytesRead !== rb.bytesRead || !x.subarray(0, ra.bytesRead).equals(y.subarray(0, rb.bytesRead))) return false;
    }
    return true;
  } finally {
    await Promise.all([first.close(), second.close()]);
  }
}
