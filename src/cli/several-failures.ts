/**
 * Several paths or names in one command (`upload A B`, `download X Y --to D`):
 * each failure is reported, naming what failed, and the command goes on with
 * the rest, as cp does; only a lost service stops it. The exit code is that
 * of the failures when they all map to the same one, else 1. With a single
 * path or name nothing changes: the failure is thrown on, and reported as
 * every command reports one.
 */
import { ExitCode } from './exit-codes.js';
import type { CommandOutput } from './output.js';

export class SeveralFailures {
  private readonly codes = new Set<ExitCode>();

  /** `subject`: the field naming what failed (`path` or `name`); undefined for a single one. */
  constructor(
    private readonly output: CommandOutput,
    private readonly subject: 'path' | 'name' | undefined,
  ) {}

  /** Report the failure of `what`; 'stop' when the rest cannot go either (the service is gone). Throws it on for a single one. */
  add(what: string, error: unknown): 'go on' | 'stop' {
    if (this.subject === undefined) throw error;
    const code = this.output.failure(error, { [this.subject]: what });
    this.codes.add(code);
    return code === ExitCode.CONNECTION ? 'stop' : 'go on';
  }

  /** A failure already reported another way (a folder with files not stored). */
  addExitCode(code: ExitCode): void {
    this.codes.add(code);
  }

  exitCode(): ExitCode | undefined {
    if (this.codes.size === 0) return undefined;
    return this.codes.size === 1 ? [...this.codes][0] : ExitCode.FAILURE;
  }
}
