/**
 * The crypto layer for the CLI commands that need it (keygen, card), loaded
 * when they run: every other command would otherwise pay for the crypto
 * graph (age, ML-KEM) at start. The bundle (tools/bundle.ts) swaps this
 * module for load-crypto-static.ts: there the entry holds the crypto layer
 * anyway (serve needs it), and a dynamic import would only split it into
 * extra chunks.
 */
export function loadCrypto(): Promise<typeof import('../crypto/index.js')> {
  return import('../crypto/index.js');
}
