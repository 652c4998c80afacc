/**
 * A passphrase-protected key used without a passphrase: on a terminal the
 * command asks for it (not echoed) and tries once more, instead of failing
 * with "provide the passphrase". In a pipe or a script nothing is read from
 * standard input unasked, so the command fails as before (exit 4).
 */
import { isRpcError } from '../client/node.js';
import { readPassphrase } from './secrets.js';

export interface PromptContext {
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream;
}

/** Whether `err` says the key file needs a passphrase that was not given. */
export function needsPassphrase(err: unknown): boolean {
  return isRpcError(err, 'KEY_INVALID') && (err as { data?: { passphraseRequired?: unknown } }).data?.passphraseRequired === true;
}

/** Run `attempt` with `given`; when it fails for want of a passphrase and stdin is a terminal, prompt and run it again. */
export async function withPassphrasePrompt<T>(given: string | undefined, context: PromptContext, attempt: (passphrase: string | undefined) => Promise<T>): Promise<T> {
  try {
    return await attempt(given);
  } catch (err) {
    if (given !== undefined || context.stdin.isTTY !== true || !needsPassphrase(err)) throw err;
    const prompted = await readPassphrase({ fromStdin: true, env: {}, stdin: context.stdin, stderr: context.stderr, prompt: 'The key file is protected. Key passphrase: ' });
    return attempt(prompted);
  }
}
