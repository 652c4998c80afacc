/**
 * planResync (src/client/resync.ts) on its own: which listings a client asks
 * for after a reconnect, and what it then reports. The whole client's resync
 * runs in resync.test.ts.
 */
import type { ListTransfersParams, ListTransfersResult, TransferStatus } from '../../protocol/index.js';
import { planResync } from '../../src/client/resync.js';

function status(transferId: string, state: TransferStatus['state'] = 'running'): TransferStatus {
  return { transferId, direction: 'upload', name: `${transferId}.bin`, state, bytesDone: 0, totalBytes: 10 } as unknown as TransferStatus;
}

function service(changed: ListTransfersResult, all: ListTransfersResult) {
  const asked: ListTransfersParams[] = [];
  return {
    asked,
    listTransfers: async (params: ListTransfersParams) => {
      asked.push(params);
      return params.sinceSeq === undefined ? all : changed;
    },
  };
}

describe('planResync', () => {
  it('asks only for what changed since the last seq when every known transfer is listed', async () => {
    const fake = service({ seq: 12, transfers: [status('a', 'completed')] }, { seq: 12, transfers: [] });
    const plan = await planResync({ since: 10, closeCode: 1006, unfinished: ['a'], listTransfers: fake.listTransfers });
    expect(fake.asked).toEqual([{ sinceSeq: 10 }]);
    expect(plan).toEqual({ restarted: false, statuses: [status('a', 'completed')], listedAt: 12, vanished: [] });
  });

  it('asks for the whole list when a known transfer is not among the changes, and reports it vanished if it is gone', async () => {
    const fake = service({ seq: 12, transfers: [] }, { seq: 12, transfers: [status('b')] });
    const plan = await planResync({ since: 10, closeCode: 1006, unfinished: ['a', 'b'], listTransfers: fake.listTransfers });
    expect(fake.asked).toEqual([{ sinceSeq: 10 }, {}]);
    expect(plan).toEqual({ restarted: false, statuses: [status('b')], listedAt: 12, vanished: ['a'] });
  });

  it('keeps the changes when the unlisted known transfers merely did not change', async () => {
    const fake = service({ seq: 12, transfers: [status('c')] }, { seq: 12, transfers: [status('a'), status('c')] });
    const plan = await planResync({ since: 10, closeCode: 1006, unfinished: ['a'], listTransfers: fake.listTransfers });
    expect(plan).toEqual({ restarted: false, statuses: [status('c')], listedAt: 12, vanished: [] });
  });

  it('takes a seq that went down as a restart: the whole list is the news', async () => {
    const fake = service({ seq: 3, transfers: [] }, { seq: 3, transfers: [status('x')] });
    const plan = await planResync({ since: 10, closeCode: 1006, unfinished: [], listTransfers: fake.listTransfers });
    expect(plan).toEqual({ restarted: true, statuses: [status('x')], listedAt: 3, vanished: [] });
  });

  it('takes close code 1001 as a restart without asking what changed', async () => {
    const fake = service({ seq: 0, transfers: [] }, { seq: 2, transfers: [status('y')] });
    const plan = await planResync({ since: 10, closeCode: 1001, unfinished: ['a'], listTransfers: fake.listTransfers });
    expect(fake.asked).toEqual([{}]);
    expect(plan).toEqual({ restarted: true, statuses: [status('y')], listedAt: 2, vanished: ['a'] });
  });

  it('takes a changed instanceId for a restart even when the new seq has passed the old one', async () => {
    const fake = service({ seq: 50, instanceId: 'second', transfers: [] }, { seq: 50, instanceId: 'second', transfers: [status('x', 'interrupted')] });
    const plan = await planResync({ since: 10, closeCode: 1006, unfinished: [], instanceId: 'first', listTransfers: fake.listTransfers });
    expect(fake.asked).toEqual([{ sinceSeq: 10 }, {}]);
    expect(plan).toEqual({ restarted: true, statuses: [status('x', 'interrupted')], listedAt: 50, vanished: [], instanceId: 'second' });
  });

  it('is no restart when the instanceId is the same', async () => {
    const fake = service({ seq: 50, instanceId: 'first', transfers: [] }, { seq: 50, instanceId: 'first', transfers: [] });
    const plan = await planResync({ since: 10, closeCode: 1006, unfinished: [], instanceId: 'first', listTransfers: fake.listTransfers });
    expect(plan).toMatchObject({ restarted: false, instanceId: 'first' });
    expect(fake.asked).toEqual([{ sinceSeq: 10 }]);
  });
});
