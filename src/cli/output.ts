/**
 * Where a client command's output goes. Results go to stdout: human lines, or
 * with --json exactly one JSON object per result (per line). Progress and
 * errors go to stderr, so stdout stays clean for pipes; with --json they are
 * JSON lines too (`{"type":"progress",...}`, `{"type":"error",...}`).
 */
import { RpcError } from '../client/node.js';
import { cliWording, flagOfParam } from './cli-wording.js';
import { ExitCode, exitCodeFor } from './exit-codes.js';

export interface OutputStreams {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

export class CommandOutput {
  constructor(
    readonly json: boolean,
    readonly streams: OutputStreams = { stdout: process.stdout, stderr: process.stderr },
  ) {}

  /** One result: `human` lines unless --json, where `value` is printed as one JSON line. */
  result(value: unknown, human: () => string | string[]): void {
    if (this.json) {
      this.streams.stdout.write(`${JSON.stringify(value)}\n`);
      return;
    }
    const lines = human();
    for (const line of Array.isArray(lines) ? lines : [lines]) this.streams.stdout.write(`${line}\n`);
  }

  /** A remark for a person (skipped with --json, where stdout carries results only). */
  note(line: string): void {
    if (!this.json) this.streams.stderr.write(`${line}\n`);
  }

  /**
   * Report a failure on stderr and return the exit code it maps to. `about`
   * names what failed when a command handles several (`{ path }` or
   * `{ name }`): a prefix of the human line, fields of the JSON line.
   */
  failure(error: unknown, about: Readonly<Record<string, string>> = {}): ExitCode {
    const exitCode = exitCodeFor(error);
    const message = error instanceof Error ? error.message : String(error);
    if (this.json) {
      const rpc = error instanceof RpcError ? { code: error.code, ...(error.reason === undefined ? {} : { reason: error.reason }), ...(error.data === undefined ? {} : { data: error.data }) } : {};
      this.streams.stderr.write(`${JSON.stringify({ type: 'error', exitCode, ...about, ...rpc, message })}\n`);
    } else {
      const prefix = Object.values(about).map((value) => `${value}: `).join('');
      this.streams.stderr.write(`cloudlocker: ${prefix}${cliWording(message)}${hint(error)}\n`);
    }
    return exitCode;
  }
}

/** What -32602 adds beyond the message: which param broke which rule. */
function hint(error: unknown): string {
  if (!(error instanceof RpcError) || error.code !== -32602 || error.data === undefined) return '';
  const { param, problem } = error.data;
  if (typeof problem !== 'string' || error.message.includes(problem)) return '';
  return ` (${typeof param === 'string' ? `${flagOfParam(param)}: ` : ''}${cliWording(problem)})`;
}

export { ExitCode };
