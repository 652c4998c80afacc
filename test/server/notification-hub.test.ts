/**
 * The hub with test doubles for connections: a sink whose bufferedAmount the
 * test sets, so "the client is not reading" is exact and instant.
 */
import type { TransferFinishedParams, TransferProgressParams } from '../../protocol/index.js';
import { NotificationHub, type NotificationSink } from '../../src/server/notification-hub.js';

class FakeSink implements NotificationSink {
  bufferedAmount = 0;
  readonly sent: Array<{ method: string; params: { seq: number; transferId: string; transferredBytes?: number } }> = [];
  send(text: string): void {
    this.sent.push(JSON.parse(text) as FakeSink['sent'][number]);
  }
  get seqs(): number[] {
    return this.sent.map((message) => message.params.seq);
  }
}

const HIGH = 1000;
const LOW = 100;
const newHub = () => new NotificationHub({ highWatermarkBytes: HIGH, lowWatermarkBytes: LOW, drainCheckIntervalMs: 5 });
const tick = (ms = 30) => new Promise((resolve) => setTimeout(resolve, ms));

let seq = 0;
function progress(transferId: string, transferredBytes: number): { method: 'transferProgress'; params: TransferProgressParams } {
  seq += 1;
  return {
    method: 'transferProgress',
    params: {
      seq,
      transferId,
      direction: 'upload',
      name: `${transferId}.bin`,
      state: 'running',
      totalBytes: 100,
      cryptoBytes: transferredBytes,
      transferredBytes,
      bytesPerSecond: 1,
      etaSeconds: null,
      startedAt: new Date(0).toISOString(),
    },
  };
}
function finished(transferId: string): { method: 'transferFinished'; params: TransferFinishedParams } {
  seq += 1;
  return { method: 'transferFinished', params: { seq, transferId, direction: 'upload', name: `${transferId}.bin`, outcome: 'completed' } };
}

describe('NotificationHub', () => {
  let hub: NotificationHub;
  beforeEach(() => {
    hub = newHub();
  });
  afterEach(() => hub.close());

  it('sends to every connection at once while they keep up', () => {
    const a = new FakeSink();
    const b = new FakeSink();
    hub.add(a);
    hub.add(b);
    hub.publish(progress('t1', 10), { coalesceKey: 't1' });
    hub.publish(finished('t1'), { coalesceKey: 't1' });
    expect(a.sent.map((message) => message.method)).toEqual(['transferProgress', 'transferFinished']);
    expect(b.sent).toEqual(a.sent);
    expect(a.sent[0]).toMatchObject({ jsonrpc: '2.0', params: { transferId: 't1', transferredBytes: 10 } });
  });

  it('coalesces progress for a backed-up connection to the latest per transfer, and loses no transferFinished', async () => {
    const slow = new FakeSink();
    const fast = new FakeSink();
    hub.add(slow);
    hub.add(fast);
    slow.bufferedAmount = HIGH + 1;
    for (let bytes = 1; bytes <= 50; bytes += 1) {
      hub.publish(progress('t1', bytes), { coalesceKey: 't1' });
      hub.publish(progress('t2', bytes), { coalesceKey: 't2' });
    }
    hub.publish(finished('t2'), { coalesceKey: 't2' });
    hub.publish(finished('t3'), { coalesceKey: 't3' });
    expect(slow.sent).toHaveLength(0);
    expect(hub.stats()).toMatchObject({ connections: 2, queued: 4 });

    slow.bufferedAmount = 0;
    await tick();
    expect(slow.sent.map((message) => [message.method, message.params.transferId, message.params.transferredBytes])).toEqual([
      ['transferProgress', 't1', 50],
      ['transferProgress', 't2', 50],
      ['transferFinished', 't2', undefined],
      ['transferFinished', 't3', undefined],
    ]);
    // What a slow reader gets still rises in seq.
    expect(slow.seqs).toEqual([...slow.seqs].sort((x, y) => x - y));
    // The fast connection got everything.
    expect(fast.sent).toHaveLength(102);
    expect(hub.stats().coalesced).toBe(98);
  });

  it("keeps a transfer's last progress ahead of its transferFinished, and does not merge later progress into it", async () => {
    const sink = new FakeSink();
    hub.add(sink);
    sink.bufferedAmount = HIGH + 1;
    hub.publish(progress('t1', 50), { coalesceKey: 't1' });
    hub.publish(progress('t1', 100), { coalesceKey: 't1' });
    hub.publish(finished('t1'), { coalesceKey: 't1' });
    hub.publish(progress('t1', 100), { coalesceKey: 't1' }); // a (misbehaving) late one
    sink.bufferedAmount = 0;
    await tick();
    expect(sink.sent.map((message) => [message.method, message.params.transferredBytes])).toEqual([
      ['transferProgress', 100],
      ['transferFinished', undefined],
      ['transferProgress', 100],
    ]);
  });

  it('waits for the buffer to fall below the low watermark, then stops again above the high one', async () => {
    const sink = new FakeSink();
    hub.add(sink);
    sink.bufferedAmount = HIGH + 1;
    hub.publish(finished('a'));
    hub.publish(finished('b'));
    hub.publish(finished('c'));
    sink.bufferedAmount = LOW; // drained, but not below the low watermark
    await tick();
    expect(sink.sent).toHaveLength(0);

    // Every send fills the buffer past the high watermark: one message per drain.
    sink.bufferedAmount = 0;
    sink.send = function (this: FakeSink, text: string) {
      FakeSink.prototype.send.call(this, text);
      this.bufferedAmount = HIGH + 1;
    };
    await tick();
    expect(sink.sent).toHaveLength(1);
    sink.bufferedAmount = 0;
    await tick();
    expect(sink.sent).toHaveLength(2);
  });

  it('drops the queue of a connection that is removed, and one whose send throws', async () => {
    const gone = new FakeSink();
    const broken = new FakeSink();
    const remove = hub.add(gone);
    hub.add(broken);
    gone.bufferedAmount = HIGH + 1;
    hub.publish(finished('x'));
    remove();
    broken.send = () => {
      throw new Error('socket closed');
    };
    hub.publish(finished('y'));
    expect(hub.stats()).toEqual({ connections: 0, queued: 0, coalesced: 0 });
    gone.bufferedAmount = 0;
    await tick();
    expect(gone.sent).toHaveLength(0);
  });

  it('does not number notifications itself: the seq in params goes out as given', () => {
    const sink = new FakeSink();
    hub.add(sink);
    const message = finished('s');
    hub.publish(message);
    expect(sink.sent[0]?.params.seq).toBe(message.params.seq);
  });
});
