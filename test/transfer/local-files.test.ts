/**
 * Operating-system refusals on the user's side of a transfer map to the
 * protocol's reasons. EACCES cannot be produced on a real file system when
 * the tests run as root, so these cases use mock-fs with a non-root uid.
 * (mock-fs does not refuse creating a file in a read-only folder: that case
 * runs on a real read-only tmpfs in test/methods/disk-errors.integration.test.ts.)
 */
import { jest } from '@jest/globals';
import mock from 'mock-fs';
import { inspectSource, openSource } from '../../src/transfer/local-files.js';

function asUser<T>(run: () => Promise<T>): Promise<T> {
  const uid = jest.spyOn(process, 'getuid').mockReturnValue(1000);
  const gid = jest.spyOn(process, 'getgid').mockReturnValue(1000);
  return run().finally(() => {
    uid.mockRestore();
    gid.mockRestore();
  });
}

describe('local files under operating-system refusals', () => {
  afterEach(() => mock.restore());

  it('maps an unreadable source to PERMISSION_DENIED', async () => {
    await asUser(async () => {
      mock({ '/data': mock.directory({ uid: 0, gid: 0, mode: 0o755, items: { 'secret.txt': mock.file({ content: 'x', uid: 0, gid: 0, mode: 0o600 }) } }) });
      const source = await inspectSource('/data/secret.txt');
      await expect(openSource(source)).rejects.toMatchObject({ reason: 'PERMISSION_DENIED' });
    });
  });

  it('maps a source folder that cannot be searched to PERMISSION_DENIED', async () => {
    await asUser(async () => {
      mock({ '/locked': mock.directory({ uid: 0, gid: 0, mode: 0o700, items: { 'a.txt': 'a' } }) });
      await expect(inspectSource('/locked/a.txt')).rejects.toMatchObject({ reason: 'PERMISSION_DENIED' });
    });
  });
});
