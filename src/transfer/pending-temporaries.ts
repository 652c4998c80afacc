/**
 * Temporaries of transfers that are not journaled (exportFile): a kill -9
 * would leave one beside its destination, where no store init() looks.
 * Each temporary's path is recorded in `<dataDir>/pending-temporaries/`
 * (0700; `<transferId>.json`, 0600, written atomically) before the
 * temporary is created, and the record is dropped once the temporary is
 * published or removed. The next start (sweep()) removes every temporary a
 * record names, then the records: what a dead run left is gone.
 *
 * Only a file named as temporaryPathFor() names them (`.<20 hex>.cloudlocker-part`)
 * is ever removed, so a damaged or planted record cannot delete anything else.
 */
import { readdir, readFile, rm, unlink } from 'node:fs/promises';
import path from 'node:path';
import { ensurePrivateDirectory, writeFileAtomic } from '../fs/atomic-file.js';

export const PENDING_TEMPORARIES_FOLDER = 'pending-temporaries';
const RECORD_FILE = /^[A-Za-z0-9_-]{1,64}\.json$/;
const TEMPORARY_NAME = /^\.[0-9a-f]{20}\.cloudlocker-part$/;

export class PendingTemporaries {
  private constructor(private readonly directory: string) {}

  /** Opens the records of `dataDir` and removes what an earlier run left (see sweep()). */
  static async open(dataDir: string): Promise<PendingTemporaries> {
    const pending = new PendingTemporaries(path.join(dataDir, PENDING_TEMPORARIES_FOLDER));
    await ensurePrivateDirectory(pending.directory);
    await pending.sweep();
    return pending;
  }

  /** Removes the temporaries the records name, and every record (and a record's own leftover temporary). Returns how many temporaries it removed. */
  async sweep(): Promise<number> {
    let removed = 0;
    for (const entry of await readdir(this.directory)) {
      const file = path.join(this.directory, entry);
      if (RECORD_FILE.test(entry)) {
        const tempPath = await readRecord(file);
        if (tempPath !== undefined && path.isAbsolute(tempPath) && TEMPORARY_NAME.test(path.basename(tempPath))) {
          if (await unlink(tempPath).then(() => true, () => false)) removed++;
        }
      }
      await rm(file, { force: true });
    }
    return removed;
  }

  /** Records `tempPath` (absolute) for transfer `transferId` before it is created. */
  async track(transferId: string, tempPath: string): Promise<void> {
    await writeFileAtomic(this.recordOf(transferId), JSON.stringify({ version: 1, tempPath }), 0o600);
  }

  /** The temporary is published or removed: nothing to sweep for it any more. */
  async forget(transferId: string): Promise<void> {
    await rm(this.recordOf(transferId), { force: true });
  }

  private recordOf(transferId: string): string {
    const file = `${transferId}.json`;
    if (!RECORD_FILE.test(file)) throw new Error('not a transfer id');
    return path.join(this.directory, file);
  }
}

async function readRecord(file: string): Promise<string | undefined> {
  try {
    const parsed: unknown = JSON.parse(await readFile(file, 'utf8'));
    const tempPath = (parsed as { tempPath?: unknown } | null)?.tempPath;
    return typeof tempPath === 'string' ? tempPath : undefined;
  } catch {
    return undefined;
  }
}
