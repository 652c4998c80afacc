/** The progress renderers and how the CLI picks one; byte and time formatting; exit codes per failure class. */
import { PassThrough } from 'node:stream';
import { CommanderError } from 'commander';
import { ConnectError, ConnectionLostError, RpcError, type TransferProgressParams } from '../../src/client/node.js';
import { ExitCode, UsageError, exitCodeFor } from '../../src/cli/exit-codes.js';
import { formatBytes, formatDuration } from '../../src/cli/human-readable.js';
import { createProgressDisplay, fitProgressLine, formatProgressLine, percentDone, pickProgressMode } from '../../src/cli/progress-display.js';
import { CloudlockerError, InvalidParamsError } from '../../src/errors.js';

const MiB = 1024 * 1024;

function progress(done: number, overrides: Partial<TransferProgressParams> = {}): TransferProgressParams {
  return {
    seq: 1,
    transferId: 't1',
    direction: 'upload',
    name: 'reports/q3.pdf',
    state: 'running',
    totalBytes: 32 * MiB,
    cryptoBytes: Math.min(32 * MiB, done + MiB),
    transferredBytes: done,
    bytesPerSecond: 8 * MiB,
    etaSeconds: (32 * MiB - done) / (8 * MiB),
    startedAt: '2026-11-30T09:00:00.000Z',
    ...overrides,
  };
}

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  return { stream, text: () => text };
}

describe('formatProgressLine', () => {
  it('says direction, name, percent of the bytes done on both counters, speed and time left', () => {
    expect(formatProgressLine(progress(8 * MiB))).toBe('upload reports/q3.pdf: 25% (8.00 MiB of 32.0 MiB, 8.00 MiB/s, 3s left)');
  });

  it('a transfer group also says how many of its files are done (one bar for the whole folder)', () => {
    const group = progress(8 * MiB, { group: { filesTotal: 300, filesDone: 12, filesFailed: 0, currentFile: 'reports/q3.pdf' } });
    expect(formatProgressLine(group)).toBe('upload reports/q3.pdf: 25% (12 of 300 files, 8.00 MiB of 32.0 MiB, 8.00 MiB/s, 3s left)');
    // Narrow: the file count goes with the byte counts; the percent and the time left stay.
    expect(fitProgressLine(group, 40)).not.toContain('files');
    expect(fitProgressLine(group, 40)).toContain('25%');
  });

  it('names states other than running and completed, and leaves speed out when not running', () => {
    expect(formatProgressLine(progress(0, { state: 'queued', cryptoBytes: 0, bytesPerSecond: 0, etaSeconds: null }))).toBe(
      'upload reports/q3.pdf: queued 0% (0 B of 32.0 MiB)',
    );
    expect(formatProgressLine(progress(32 * MiB, { state: 'completed', direction: 'download' }))).toBe(
      'download reports/q3.pdf: 100% (32.0 MiB of 32.0 MiB)',
    );
  });

  it('counts an empty file as done', () => {
    expect(percentDone({ totalBytes: 0, cryptoBytes: 0, transferredBytes: 0 })).toBe(100);
  });
});

describe('progress displays', () => {
  it('lines: one plain line per tenth reached, never more than eleven', () => {
    const out = capture();
    const display = createProgressDisplay('lines', out.stream);
    for (let done = 0; done <= 32 * MiB; done += MiB / 4) display.update(progress(done, { cryptoBytes: done }));
    display.stop();
    const lines = out.text().trimEnd().split('\n');
    expect(lines).toHaveLength(11);
    expect(lines.map((line) => /: (\d+)%/.exec(line)?.[1])).toEqual(['0', '10', '20', '30', '40', '50', '60', '70', '80', '90', '100']);
    expect(out.text()).not.toMatch(/\r|\x1b/);
  });

  it('json: one parseable line per update with a percent', () => {
    const out = capture();
    const display = createProgressDisplay('json', out.stream);
    display.update(progress(8 * MiB));
    display.update(progress(16 * MiB));
    const lines = out.text().trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toEqual([
      expect.objectContaining({ type: 'progress', transferId: 't1', percent: 25 }),
      expect.objectContaining({ type: 'progress', percent: 50 }),
    ]);
  });

  it('bar: redraws one line in place with a bar and the progress text', () => {
    const out = capture();
    Object.assign(out.stream, { isTTY: true, columns: 120, cursorTo: () => true, clearLine: () => true });
    const display = createProgressDisplay('bar', out.stream);
    display.update(progress(0, { cryptoBytes: 0 }));
    display.update(progress(16 * MiB, { cryptoBytes: 16 * MiB }));
    display.stop();
    const text = out.text();
    expect(text).toContain('█');
    expect(text).toContain('upload reports/q3.pdf: 50%');
    expect(text).not.toContain('\n\n');
  });

  it('picks bar on a terminal, lines in a pipe, json with --json, none with --no-progress', () => {
    expect(pickProgressMode({ json: false, progress: true, stderrIsTTY: true })).toBe('bar');
    expect(pickProgressMode({ json: false, progress: true, stderrIsTTY: false })).toBe('lines');
    expect(pickProgressMode({ json: true, progress: true, stderrIsTTY: true })).toBe('json');
    expect(pickProgressMode({ json: true, progress: false, stderrIsTTY: true })).toBe('none');
  });
});

describe('formatting', () => {
  it('bytes in binary units', () => {
    expect([0, 1023, 1024, 1536, 10 * 1024 * 1024, 3 * 1024 ** 4].map(formatBytes)).toEqual(['0 B', '1023 B', '1.00 KiB', '1.50 KiB', '10.0 MiB', '3.00 TiB']);
  });
  it('durations', () => {
    expect([null, 0.4, 59, 125, 7300].map(formatDuration)).toEqual(['?', '0s', '59s', '2m05s', '2h01m']);
  });
});

describe('exit codes', () => {
  const rpc = (code: number, reason?: string) => new RpcError({ code, message: 'm', ...(reason === undefined ? {} : { data: { reason: reason as 'NOT_FOUND' } }) });
  it.each([
    ['new UsageError("x")', new UsageError('x'), ExitCode.USAGE],
    ['new CommanderError(1, "commander.unknownOption", "x")', new CommanderError(1, 'commander.unknownOption', 'x'), ExitCode.USAGE],
    ['new InvalidParamsError("x", "passphrase")', new InvalidParamsError('x', 'passphrase'), ExitCode.USAGE],
    ['rpc(-32602)', rpc(-32602), ExitCode.USAGE],
    ['rpc(-32001, "NOT_FOUND")', rpc(-32001, 'NOT_FOUND'), ExitCode.NOT_FOUND],
    ['rpc(-32003, "KEY_INVALID")', rpc(-32003, 'KEY_INVALID'), ExitCode.KEY],
    ['rpc(-32004)', rpc(-32004), ExitCode.KEY], // the reason follows from the code when data has none
    ['rpc(-32002, "ALREADY_EXISTS")', rpc(-32002, 'ALREADY_EXISTS'), ExitCode.EXISTS],
    ['rpc(-32005, "INTEGRITY")', rpc(-32005, 'INTEGRITY'), ExitCode.FAILURE],
    ['new CloudlockerError("ALREADY_EXISTS")', new CloudlockerError('ALREADY_EXISTS'), ExitCode.EXISTS],
    ['new ConnectError("not-running", "x")', new ConnectError('not-running', 'x'), ExitCode.CONNECTION],
    ['new ConnectionLostError()', new ConnectionLostError(), ExitCode.CONNECTION],
    ['new Error("x")', new Error('x'), ExitCode.FAILURE],
  ] as Array<[string, unknown, ExitCode]>)('%s', (_label, error, code) => {
    expect(exitCodeFor(error)).toBe(code);
  });
});

describe('fitProgressLine: the bar fits the terminal, dropping parts in order', () => {
  const p = progress(8 * MiB);
  const width = (text: string) => [...text].length;

  it('wide: a 24-cell bar and every part', () => {
    const line = fitProgressLine(p, 200);
    expect(line).toBe(`██████${'░'.repeat(18)} upload reports/q3.pdf: 25% (8.00 MiB of 32.0 MiB, 8.00 MiB/s, 3s left)`);
  });

  it('90 columns: the bar narrows, every part stays', () => {
    const line = fitProgressLine(p, 90);
    expect(width(line)).toBeLessThanOrEqual(89);
    expect(line).toMatch(/^[█░]{10,23} upload reports\/q3\.pdf: 25% \(8\.00 MiB of 32\.0 MiB, 8\.00 MiB\/s, 3s left\)$/);
  });

  it('narrower: first the direction word, then the byte counts, then the speed, then the bar go', () => {
    expect(width(fitProgressLine(p, 80))).toBeLessThanOrEqual(79);
    expect(fitProgressLine(p, 80)).toMatch(/^[█░]{10,} reports\/q3\.pdf: 25% \(8\.00 MiB of 32\.0 MiB, 8\.00 MiB\/s, 3s left\)$/);
    expect(fitProgressLine(p, 55)).toMatch(/^[█░]{10,} reports\/q3\.pdf: 25% \(8\.00 MiB\/s, 3s left\)$/);
    expect(fitProgressLine(p, 42)).toMatch(/^[█░]{10,} reports\/q3\.pdf: 25% \(3s left\)$/);
    expect(fitProgressLine(p, 30)).toBe('reports/q3.pdf: 25% (3s left)');
  });

  it('narrowest: the name is shortened in the middle, the line never wider than columns - 1', () => {
    const long = progress(8 * MiB, { name: 'a/very/long/folder/name/with/the/report-of-the-third-quarter.pdf' });
    const line = fitProgressLine(long, 40);
    expect(width(line)).toBeLessThanOrEqual(39);
    expect(line).toMatch(/^a\/very.*….*quarter\.pdf: 25% \(3s left\)$/);
    for (const columns of [1, 5, 12, 20, 33, 64, 81, 132]) expect(width(fitProgressLine(long, columns))).toBeLessThanOrEqual(Math.max(1, columns - 1));
  });
});
