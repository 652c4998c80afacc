/** load-crypto.ts as the bundle builds it: the crypto layer imported statically (see there). */
import * as crypto from '../crypto/index.js';

export function loadCrypto(): Promise<typeof crypto> {
  return Promise.resolve(crypto);
}
