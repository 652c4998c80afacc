/**
 * The unlocked identity is wiped (its secret overwritten, every later use
 * LOCKED) whenever the session lets go of it: lock, an unlock of another
 * identity, the idle timeout; and publishIdentity wipes an identity it read
 * from keyPath for its own use.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { jest } from '@jest/globals';
import { hybridPublicKeyMemoStats } from '../../src/crypto/age/hybrid-kem.js';
import { AgeIdentity, createIdentityFile } from '../../src/crypto/age/index.js';
import { createPublishIdentityHandler } from '../../src/methods/publish-identity.js';
import { LocalStorage } from '../../src/storage/index.js';
import type { ContactBook } from '../../src/users/contacts.js';
import { IdentitySession } from '../../src/users/identity-session.js';

/** The identity no longer opens anything: every secret use is refused with LOCKED. */
function expectWiped(identity: AgeIdentity): void {
  expect(identity.wiped).toBe(true);
  expect(() => identity.unwrap([])).toThrow(expect.objectContaining({ reason: 'LOCKED' }));
}

function expectUsable(identity: AgeIdentity): void {
  expect(identity.wiped).toBe(false);
  expect(identity.unwrap([])).toBeNull();
}

describe('IdentitySession wipes the identity it lets go of', () => {
  it('on lock', () => {
    const session = new IdentitySession();
    const identity = AgeIdentity.generate();
    session.unlock({ identity, keyPath: '/keys/me.age' });
    expectUsable(session.use('to test').identity);
    expect(session.lock()).toBe(true);
    expectWiped(identity);
    expect(() => session.use('to test')).toThrow(expect.objectContaining({ reason: 'LOCKED' }));
  });

  it('on lock (the idle timeout and shutdown take the same path; also with nothing unlocked), the remembered hybrid public keys are forgotten too', () => {
    const session = new IdentitySession();
    const secret = AgeIdentity.generate('mlkem768x25519').encodeSecret();
    // Each parse is a key-file load: the second finds its public key remembered, not derived again.
    const identity = AgeIdentity.parse(secret);
    const { derivations } = hybridPublicKeyMemoStats();
    AgeIdentity.parse(secret).wipe();
    expect(hybridPublicKeyMemoStats().derivations).toBe(derivations);
    expect(hybridPublicKeyMemoStats().remembered).toBeGreaterThan(0);
    session.unlock({ identity, keyPath: '/keys/pq.age' });
    expect(session.lock()).toBe(true);
    expect(hybridPublicKeyMemoStats().remembered).toBe(0);
    // Loaded again after the lock: derived again, and the same key.
    const again = AgeIdentity.parse(secret);
    expect(hybridPublicKeyMemoStats().derivations).toBe(derivations + 1);
    expect(again.recipient).toBe(identity.recipient);
    again.wipe();
    // A lock with nothing unlocked forgets them too (keyPath calls remember keys without any unlock).
    expect(hybridPublicKeyMemoStats().remembered).toBeGreaterThan(0);
    expect(session.lock()).toBe(false);
    expect(hybridPublicKeyMemoStats().remembered).toBe(0);
  });

  it('on unlocking another identity (the new one stays usable)', () => {
    const session = new IdentitySession();
    const first = AgeIdentity.generate();
    const second = AgeIdentity.generate();
    session.unlock({ identity: first, keyPath: '/keys/first.age' });
    session.unlock({ identity: second, keyPath: '/keys/second.age' });
    expectWiped(first);
    expectUsable(second);
    expect(session.use('to test').identity).toBe(second);
  });

  it('when the idle timeout fires', () => {
    let fire: (() => void) | undefined;
    const changes: unknown[] = [];
    const session = new IdentitySession({
      onChange: (change) => changes.push(change),
      setTimer: (callback) => {
        fire = callback;
        return {};
      },
      clearTimer: () => {
        fire = undefined;
      },
    });
    const identity = AgeIdentity.generate();
    session.unlock({ identity, keyPath: '/keys/me.age' }, { idleTimeoutMs: 60_000 });
    expectUsable(identity);
    expect(fire).toBeDefined();
    fire!();
    expectWiped(identity);
    expect(session.isUnlocked).toBe(false);
    expect(changes.at(-1)).toEqual({ unlocked: false, cause: 'idle' });
  });

  it('with real timers and a tiny timeout', async () => {
    const session = new IdentitySession();
    const identity = AgeIdentity.generate();
    session.unlock({ identity, keyPath: '/keys/me.age' }, { idleTimeoutMs: 5 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expectWiped(identity);
  });
});

describe('publishIdentity', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cloudlocker-publish-wipe-'));
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await rm(dir, { recursive: true, force: true });
  });

  it('wipes an identity it read from keyPath once done, and leaves the unlocked one alone', async () => {
    const storage = new LocalStorage({ directory: path.join(dir, 'store') });
    await storage.init();
    try {
      const session = new IdentitySession();
      const unlocked = AgeIdentity.generate();
      session.unlock({ identity: unlocked, keyPath: path.join(dir, 'unlocked.age') });
      const publish = createPublishIdentityHandler({
        session,
        contacts: undefined as unknown as ContactBook,
        rawStorage: storage,
        identityCopyLogN: 10,
        skipPassphraseStrength: true,
      });
      const keyPath = path.join(dir, 'other.age');
      await createIdentityFile(keyPath);
      const wipe = jest.spyOn(AgeIdentity.prototype, 'wipe');
      const result = await publish({ userName: 'alice', passphrase: 'p', keyPath } as never, undefined as never);
      expect(wipe).toHaveBeenCalledTimes(1);
      const read = wipe.mock.contexts[0] as AgeIdentity;
      expect(read.card.cardId).toBe((result as { cardId: string }).cardId);
      expectWiped(read);
      expectUsable(unlocked);

      // Without keyPath: the session's identity is used and stays unlocked.
      await publish({ userName: 'bob', passphrase: 'p' } as never, undefined as never);
      expect(wipe).toHaveBeenCalledTimes(1);
      expectUsable(session.use('to test').identity);
    } finally {
      await storage.close();
    }
  });
});
