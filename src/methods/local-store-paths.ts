/**
 * Rules that keep the user's secrets out of the local store directory: that
 * directory is what gets synced or backed up as "the cloud", so a key file
 * kept there would travel with the files it protects, and a plaintext
 * written there would sit beside (or replace) the encrypted objects.
 */
import { InvalidParamsError } from '../errors.js';
import type { Storage } from '../storage/storage.js';
import { isInsideDirectory } from '../transfer/local-files.js';

/** Refuse a key file path inside the local store (S3 stores have no local directory to protect). */
export async function refuseKeyInsideStore(storage: Storage, keyPath: string, param: string): Promise<void> {
  if (storage.kind !== 'local') return;
  if (await isInsideDirectory(keyPath, storage.location)) {
    throw new InvalidParamsError(
      `${param} is inside the local store: a key must never be kept with the files it protects; choose a folder outside the store.`,
      param,
    );
  }
}

/** Refuse a download destination inside the local store: decrypted data must never land there. */
export async function refusePlaintextInsideStore(storage: Storage, destination: string, param: string): Promise<void> {
  if (storage.kind !== 'local') return;
  if (await isInsideDirectory(destination, storage.location)) {
    throw new InvalidParamsError(
      `${param} is inside the local store: decrypted files must not be written there; choose a folder outside the store.`,
      param,
    );
  }
}
