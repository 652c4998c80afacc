import { jest } from '@jest/globals';
import type { TransferFinishedParams, TransferProgressParams } from '../../protocol/index.js';
import { TransferRegistry } from '../../src/transfer/transfer-registry.js';

function recordingRegistry(options: { progressIntervalMs?: number; retentionMs?: number } = {}) {
  let clock = 1_000_000;
  const registry = new TransferRegistry({ ...options, now: () => clock });
  const progress: TransferProgressParams[] = [];
  const finished: TransferFinishedParams[] = [];
  const seqs: number[] = [];
  registry.on('transferProgress', (p) => {
    progress.push(p);
    seqs.push(p.seq);
  });
  registry.on('transferFinished', (f) => {
    finished.push(f);
    seqs.push(f.seq);
  });
  return {
    registry,
    progress,
    finished,
    seqs,
    advance(ms: number) {
      clock += ms;
      jest.advanceTimersByTime(ms);
    },
  };
}

describe('TransferRegistry', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('throttles progress to one per interval per transfer and sends the latest counters', () => {
    const { registry, progress, advance } = recordingRegistry({ progressIntervalMs: 100 });
    const record = registry.create('t1', 'upload', 'a.bin', 1000);
    registry.setRunning(record);
    const before = progress.length;
    for (let i = 0; i < 10; i++) registry.addProgress(record, { cryptoBytes: 10, transferredBytes: 10 });
    // Within one interval of the last notification nothing more goes out...
    expect(progress.length).toBe(before);
    advance(100);
    // ...then exactly one, with the latest values.
    expect(progress.length).toBe(before + 1);
    expect(progress.at(-1)).toMatchObject({ cryptoBytes: 100, transferredBytes: 100, state: 'running' });
    advance(500);
    expect(progress.length).toBe(before + 1);
  });

  it('sends nothing when nothing changed', () => {
    const { registry, progress, advance } = recordingRegistry({ progressIntervalMs: 100 });
    const record = registry.create('t1', 'download', 'a.bin', 1000);
    registry.setRunning(record);
    advance(200);
    registry.addProgress(record, { cryptoBytes: 0 });
    advance(200);
    expect(progress.map((p) => p.state)).toEqual(['queued', 'running']);
  });

  it('ends a completed transfer with counters at totalBytes, then exactly one finish, seq rising by one', () => {
    const { registry, progress, finished, seqs, advance } = recordingRegistry();
    const record = registry.create('t1', 'upload', 'a.bin', 300);
    registry.setRunning(record);
    registry.addProgress(record, { cryptoBytes: 100 });
    advance(50);
    registry.finish(record, 'completed', {
      result: { transferId: 't1', name: 'a.bin', path: '/x', size: 300 },
    });
    registry.finish(record, 'failed', { error: { code: -32603, message: 'x' } });
    expect(finished).toHaveLength(1);
    expect(finished[0]).toMatchObject({ transferId: 't1', outcome: 'completed', direction: 'upload' });
    const last = progress.at(-1)!;
    expect(last).toMatchObject({ state: 'completed', cryptoBytes: 300, transferredBytes: 300 });
    expect(last.seq).toBe(finished[0]!.seq - 1);
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
  });

  it('never lets counters go down or past the total', () => {
    const { registry, progress, advance } = recordingRegistry({ progressIntervalMs: 10 });
    const record = registry.create('t1', 'upload', 'a.bin', 100);
    registry.setRunning(record);
    for (let i = 0; i < 30; i++) {
      registry.addProgress(record, { cryptoBytes: 7, transferredBytes: 5 });
      advance(11);
    }
    const crypto = progress.map((p) => p.cryptoBytes);
    expect(crypto).toEqual([...crypto].sort((a, b) => a - b));
    expect(Math.max(...crypto)).toBe(100);
  });

  it('lets go of the controller of a finished transfer, which stays listed for a day', () => {
    const { registry } = recordingRegistry();
    const record = registry.create('t1', 'upload', 'a.bin', 10);
    const running = record.abortController;
    registry.setRunning(record);
    registry.finish(record, 'failed', { error: { code: -32006, message: 'store down', data: { reason: 'STORAGE_UNAVAILABLE' } } });
    expect(record.abortController).not.toBe(running);
    expect(running.signal.aborted).toBe(false);
    expect(record.signal.aborted).toBe(true);
    expect(registry.list().transfers[0]).toMatchObject({ transferId: 't1', state: 'failed', bytesPerSecond: 0 });
  });

  it('keeps at most maxFinishedKept finished transfers, dropping the oldest, and never a running one', () => {
    const registry = new TransferRegistry({ maxFinishedKept: 2 });
    const running = registry.create('running', 'upload', 'r', 1);
    for (const id of ['f1', 'f2', 'f3']) registry.finish(registry.create(id, 'upload', id, 1), 'completed');
    expect(registry.list().transfers.map((t) => t.transferId).sort()).toEqual(['f2', 'f3', 'running']);
    expect(running.finished).toBe(false);
  });

  it('does not keep a group member once it finished: a 2 000-member group leaves its group record and the members in flight only', () => {
    const { registry, finished } = recordingRegistry();
    const group = registry.create('folder-1', 'upload', 'photos', 2000 * 4096, undefined, { group: { filesTotal: 2000 } });
    registry.setRunning(group);
    const inFlight: string[] = [];
    for (let index = 0; index < 2000; index++) {
      const member = registry.create(`member-${index}`, 'upload', `photos/${index}.bin`, 4096, undefined, { groupId: 'folder-1' });
      registry.setRunning(member);
      registry.addProgress(member, { cryptoBytes: 4096, transferredBytes: 4096 });
      // Four stay running; one in ten fails; the others complete.
      if (index >= 1996) {
        inFlight.push(member.transferId);
        continue;
      }
      if (index % 10 === 0) registry.finish(member, 'failed', { error: { code: -32010, message: 'changed', data: { reason: 'SOURCE_CHANGED' } } });
      else registry.finish(member, 'completed');
      expect(registry.has(member.transferId)).toBe(false);
    }
    // Each member was still told of once, with its outcome.
    expect(finished).toHaveLength(1996);
    expect(finished.filter((f) => f.outcome === 'failed')).toHaveLength(200);
    // Listed: the group and the members still running, nothing else.
    const listed = registry.list(0).transfers.map((t) => t.transferId);
    expect(listed.sort()).toEqual(['folder-1', ...inFlight].sort());
    // A transfer that is in no group is kept once finished, as before.
    const single = registry.create('single', 'upload', 'one.bin', 10);
    registry.finish(single, 'completed');
    expect(registry.get('single')?.state).toBe('completed');
  });

  it('lists transfers changed since a seq, and forgets finished ones after the retention time', () => {
    const { registry, advance } = recordingRegistry({ retentionMs: 60_000 });
    const a = registry.create('a', 'upload', 'a', 1);
    const seqAfterA = registry.currentSeq;
    const b = registry.create('b', 'upload', 'b', 1);
    expect(registry.list(seqAfterA).transfers.map((t) => t.transferId)).toEqual(['b']);
    registry.finish(a, 'cancelled', { error: { code: -32007, message: 'cancelled', data: { reason: 'CANCELLED' } } });
    expect(registry.list(seqAfterA).transfers.map((t) => t.transferId).sort()).toEqual(['a', 'b']);
    expect(registry.list().seq).toBe(registry.currentSeq);
    advance(59_000);
    expect(registry.has('a')).toBe(true);
    advance(2_000);
    expect(registry.has('a')).toBe(false);
    expect(registry.has('b')).toBe(true);
    void b;
  });
});
