/**
 * Write a file so that readers see either the old content or the new, never
 * half of it, and so that a secret is never readable by others even for a
 * moment: the temporary file is created with its final mode, flushed, then
 * renamed over the target, and the folder is flushed so that the new name
 * survives a power cut.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { syncDirectory } from './durable-fs.js';

export async function writeFileAtomic(file: string, data: string | Uint8Array, mode: number): Promise<void> {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temporary, 'wx', mode);
  try {
    await handle.writeFile(data);
    // A mode given to open() is filtered by the umask; set it exactly.
    await handle.chmod(mode).catch(() => undefined);
    await handle.sync();
  } catch (err) {
    await handle.close().catch(() => undefined);
    await rm(temporary, { force: true });
    throw err;
  }
  await handle.close();
  try {
    await rename(temporary, file);
  } catch (err) {
    await rm(temporary, { force: true });
    throw err;
  }
  await syncDirectory(path.dirname(file));
}

/** mkdir -p with a mode for the directories it creates (0700: only the user). */
export async function ensurePrivateDirectory(directory: string): Promise<void> {
  await mkdir(directory, { recursive: true, mode: 0o700 });
}
