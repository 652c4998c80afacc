/**
 * Exit codes of the client commands, one per failure class a script may want
 * to tell apart. Documented in docs/client.md; keep the two in step.
 */
import { CommanderError, type Command } from 'commander';
import { ConnectError, ConnectionLostError, RpcError } from '../client/node.js';
import { CloudlockerError, InvalidParamsError } from '../errors.js';

export const ExitCode = {
  OK: 0,
  /** Anything not listed below (storage unavailable, integrity, permission, ...). */
  FAILURE: 1,
  /** Bad command line or params (unknown flag, missing argument, invalid remote name, -32602). */
  USAGE: 2,
  /** NOT_FOUND: the local file, key file, remote file or transfer does not exist. */
  NOT_FOUND: 3,
  /** KEY_INVALID, KEY_MISMATCH, NOT_A_RECIPIENT or LOCKED: wrong, damaged or locked key file, wrong passphrase, no key given and no identity unlocked. */
  KEY: 4,
  /** The service is not running, cannot be reached, refused the token, failed the certificate pin, or the connection was lost. */
  CONNECTION: 5,
  /** ALREADY_EXISTS: the target exists and --overwrite was not given. */
  EXISTS: 6,
  /** serve: another server already runs on this data directory. */
  IN_USE: 7,
  /** Interrupted with Ctrl+C (the transfer was cancelled). */
  INTERRUPTED: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** A mistake in how the command was called, found after commander's own checks. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * Required options, checked after commander has rejected unknown ones (its
 * own requiredOption check comes first, so `--kye x` was reported as a
 * missing `--key`). Reported the way commander reports them, exit code 2.
 */
export function requireOptions<T extends object>(command: Command, flags: T, required: Partial<Record<keyof T, string>>): void {
  for (const [key, flag] of Object.entries(required) as Array<[keyof T, string]>) {
    if (flags[key] === undefined) command.error(`error: required option '${flag}' not specified`, { exitCode: ExitCode.USAGE, code: 'commander.missingMandatoryOptionValue' });
  }
}

function codeForReason(reason: string | undefined): ExitCode | undefined {
  switch (reason) {
    case 'NOT_FOUND':
      return ExitCode.NOT_FOUND;
    case 'KEY_INVALID':
    case 'KEY_MISMATCH':
    case 'NOT_A_RECIPIENT':
    case 'LOCKED':
      return ExitCode.KEY;
    case 'ALREADY_EXISTS':
      return ExitCode.EXISTS;
    default:
      return undefined;
  }
}

export function exitCodeFor(error: unknown): ExitCode {
  if (error instanceof UsageError || error instanceof InvalidParamsError) return ExitCode.USAGE;
  if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
  if (error instanceof ConnectError || error instanceof ConnectionLostError) return ExitCode.CONNECTION;
  if (error instanceof RpcError) return error.code === -32602 ? ExitCode.USAGE : (codeForReason(error.reason) ?? ExitCode.FAILURE);
  if (error instanceof CloudlockerError) return codeForReason(error.reason) ?? ExitCode.FAILURE;
  return ExitCode.FAILURE;
}
