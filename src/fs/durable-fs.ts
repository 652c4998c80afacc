/**
 * Making a rename or link survive a power cut needs an fsync of the
 * directory that holds the new name. It is best effort: Windows cannot open a
 * directory for syncing and some file systems refuse (EINVAL); by then the
 * file is already in place, so failing the operation would only mislead.
 */
import { open } from 'node:fs/promises';
import path from 'node:path';

export async function syncDirectory(directory: string): Promise<void> {
  if (process.platform === 'win32') return;
  try {
    const handle = await open(directory, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // best effort, see above
  }
}

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
