/** load-crypto.ts as the bundle builds it: the crypto layer imported statically (see there). */
import { createNewKeyFile, loadKeyFile, publicFacts } from '../crypto/index.js';
import type { CliCrypto } from './load-crypto.js';

export function loadCrypto(): Promise<CliCrypto> {
  return Promise.resolve({ createNewKeyFile, loadKeyFile, publicFacts });
}
