/**
 * Passphrases never come from a command-line argument (every user sees
 * those in `ps`): either one line read from standard input, or the
 * CLOUDLOCKER_KEY_PASSPHRASE environment variable.
 */
import { Writable } from 'node:stream';
import { UsageError } from './exit-codes.js';

export const PASSPHRASE_ENV = 'CLOUDLOCKER_KEY_PASSPHRASE';

export interface PassphraseSource {
  /** The --…-from-stdin flag was given. */
  readonly fromStdin: boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
  readonly stderr?: NodeJS.WritableStream;
  /** Prompt shown when stdin is a terminal. */
  readonly prompt?: string;
}

/** The passphrase, or undefined when none was given. */
export async function readPassphrase(source: PassphraseSource): Promise<string | undefined> {
  if (source.fromStdin) {
    // Loaded here, not at the top: every command (serve too) imports this file, few read a line (start-up time, issue 17).
    const readline = await import('node:readline');
    const line = await readOneLine(readline, source.stdin ?? process.stdin, source.stderr ?? process.stderr, source.prompt ?? 'Passphrase: ');
    if (line === '') throw new UsageError('The passphrase read from standard input is empty.');
    return line;
  }
  const fromEnv = source.env[PASSPHRASE_ENV];
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
}

/** One line from `input` (without its line ending); on a terminal, prompted and not echoed. */
function readOneLine(readline: typeof import('node:readline'), input: NodeJS.ReadableStream & { isTTY?: boolean }, stderr: NodeJS.WritableStream, prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const terminal = input.isTTY === true;
    let echo = true;
    // On a terminal readline echoes what is typed: swallow it after the prompt.
    const output = new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        if (echo) stderr.write(chunk);
        callback();
      },
    });
    const rl = readline.createInterface({ input, output, terminal });
    let answered = false;
    rl.once('line', (line) => {
      answered = true;
      rl.close();
      if (terminal) stderr.write('\n');
      resolve(line.replace(/\r$/, ''));
    });
    rl.once('close', () => {
      // Let the process exit: nothing else reads standard input.
      if (!terminal) (input as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      if (!answered) reject(new UsageError('No passphrase on standard input (it ended before a line was read).'));
    });
    if (terminal) {
      stderr.write(prompt);
      echo = false;
    }
  });
}
