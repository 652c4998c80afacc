/**
 * Is a passphrase strong enough to protect an identity copy that the
 * storage provider holds (and may try to guess offline, without limit)?
 *
 * The estimate is zxcvbn's (the @zxcvbn-ts/core port, maintained, with the
 * common and English dictionaries): it counts the guesses a smart attacker
 * needs (dictionary words, names, keyboard walks, dates, repeats, l33t), not
 * character classes. A home-made "8 characters with a digit" rule passes
 * "Password1" and refuses "correct horse battery staple"; zxcvbn does the
 * opposite.
 *
 * The rule: at least 10^12 estimated guesses. With the copy's scrypt work
 * factor (2^18: about a second and 256 MiB per guess on this machine), an
 * attacker who runs 10 000 guesses a second (a large GPU farm) needs about
 * 3 years on average for 10^12; 10^10 (zxcvbn's top score) would take 12 days.
 * The user name and the words "cloudlocker" are counted as known to the
 * attacker.
 *
 * The dictionaries take about a second to load: they are loaded on first use.
 */
import { CloudlockerError } from '../errors.js';

/** Least log10 of the estimated guesses for a passphrase that protects a copy in the store. */
export const MIN_GUESSES_LOG10 = 12;
/** Guesses a second the time estimates assume for an attacker against scrypt 2^18. */
export const ATTACKER_GUESSES_PER_SECOND = 1e4;

export interface PassphraseStrength {
  readonly guessesLog10: number;
  /** Mean time to guess at ATTACKER_GUESSES_PER_SECOND, in words. */
  readonly timeToGuess: string;
  readonly strongEnough: boolean;
  readonly warning: string | undefined;
  readonly suggestions: readonly string[];
}

type Checker = (passphrase: string, userInputs: string[]) => { guessesLog10: number; feedback: { warning: string | null; suggestions: string[] } };

let checker: Promise<Checker> | undefined;

function loadChecker(): Promise<Checker> {
  checker ??= (async () => {
    const { createZxcvbn } = await import('./zxcvbn-checker.js');
    const factory = createZxcvbn();
    return (passphrase, userInputs) => factory.check(passphrase, userInputs);
  })();
  return checker;
}

export function describeDuration(seconds: number): string {
  const units: Array<[number, string]> = [
    [3600 * 24 * 365 * 100, 'centuries'],
    [3600 * 24 * 365, 'years'],
    [3600 * 24 * 30, 'months'],
    [3600 * 24, 'days'],
    [3600, 'hours'],
    [60, 'minutes'],
    [1, 'seconds'],
  ];
  if (seconds >= units[0][0]) return 'centuries';
  for (const [size, name] of units.slice(1)) {
    if (seconds >= size) return `about ${Math.round(seconds / size)} ${name}`;
  }
  return 'less than a second';
}

export async function estimatePassphrase(passphrase: string, context: readonly string[] = []): Promise<PassphraseStrength> {
  const check = await loadChecker();
  // zxcvbn's cost grows with length; past 256 characters the tail adds nothing it could count.
  const result = check(passphrase.slice(0, 256), ['cloudlocker', 'cloud', 'locker', ...context]);
  const guessesLog10 = result.guessesLog10;
  // Mean time: half the guess space.
  const seconds = 10 ** guessesLog10 / 2 / ATTACKER_GUESSES_PER_SECOND;
  return {
    guessesLog10,
    timeToGuess: describeDuration(seconds),
    strongEnough: guessesLog10 >= MIN_GUESSES_LOG10,
    warning: result.feedback.warning ?? undefined,
    suggestions: result.feedback.suggestions,
  };
}

/** PASSPHRASE_WEAK, saying why and how long guessing would take, unless the passphrase is strong enough. */
export async function requireStrongPassphrase(passphrase: string, context: readonly string[], param: string): Promise<void> {
  const strength = await estimatePassphrase(passphrase, context);
  if (strength.strongEnough) return;
  const why = strength.warning === undefined ? '' : ` ${strength.warning}`;
  throw new CloudlockerError(
    'PASSPHRASE_WEAK',
    `That passphrase is too easy to guess for a copy the storage provider holds: an attacker would need ${strength.timeToGuess} ` +
      `at ${ATTACKER_GUESSES_PER_SECOND} guesses a second.${why} Use four or more random words, or a longer passphrase.`,
    {
      details: {
        param,
        guessesLog10: Math.round(strength.guessesLog10 * 10) / 10,
        minGuessesLog10: MIN_GUESSES_LOG10,
        timeToGuess: strength.timeToGuess,
        ...(strength.warning === undefined ? {} : { warning: strength.warning }),
        suggestions: [...strength.suggestions],
      },
    },
  );
}
