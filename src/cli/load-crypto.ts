/**
 * The crypto layer for the CLI commands that need it (keygen, card), loaded
 * when they run: every other command would otherwise pay for the crypto
 * graph (age, ML-KEM) at start. The bundle (tools/bundle.ts) swaps this
 * module for load-crypto-static.ts: there the entry holds the crypto layer
 * anyway (serve needs it), and a dynamic import would only split it into
 * extra chunks.
 */
import type { createNewKeyFile, loadKeyFile, publicFacts } from '../crypto/index.js';

/** What the CLI's key commands use of the crypto layer. */
export interface CliCrypto {
  readonly createNewKeyFile: typeof createNewKeyFile;
  readonly loadKeyFile: typeof loadKeyFile;
  readonly publicFacts: typeof publicFacts;
}

export async function loadCrypto(): Promise<CliCrypto> {
  const { createNewKeyFile, loadKeyFile, publicFacts } = await import('../crypto/index.js');
  return { createNewKeyFile, loadKeyFile, publicFacts };
}
