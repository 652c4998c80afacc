/**
 * The one unlocked identity of a running service (one desktop user at a
 * time). `unlock` keeps it in memory; `lock`, shutdown and an optional idle
 * timeout forget it, overwriting its secret bytes (AgeIdentity.wipe), and
 * forget the hybrid public keys remembered for key-file loads. Every
 * change is reported through `onChange`, which the service turns into an
 * `identityChanged` notification to every connection.
 *
 * The idle timeout counts from the last call that used the identity
 * (`use()`), not from the last call of any kind: a window that only polls
 * listTransfers does not keep an identity unlocked.
 */
import type { IdentityChangedParams } from '../../protocol/index.js';
import { forgetHybridPublicKeys } from '../crypto/age/hybrid-kem.js';
import type { AgeIdentity } from '../crypto/age/index.js';
import { CloudlockerError } from '../errors.js';

export type LockCause = 'lock' | 'idle' | 'shutdown' | 'unlock' | 'signIn';

export interface UnlockedIdentity {
  readonly identity: AgeIdentity;
  /** Absolute path of the identity file it came from. */
  readonly keyPath: string;
}

export interface IdentitySessionOptions {
  /** Called after every change, with what to tell the clients. */
  readonly onChange?: (change: IdentityChangedParams) => void;
  /** For tests: the timer functions. */
  readonly setTimer?: (callback: () => void, ms: number) => { unref?: () => void };
  readonly clearTimer?: (timer: unknown) => void;
}

export class IdentitySession {
  private unlocked: (UnlockedIdentity & { idleTimeoutMs: number | undefined }) | undefined;
  private timer: unknown;
  private readonly onChange: (change: IdentityChangedParams) => void;
  private readonly setTimer: NonNullable<IdentitySessionOptions['setTimer']>;
  private readonly clearTimer: NonNullable<IdentitySessionOptions['clearTimer']>;

  constructor(options: IdentitySessionOptions = {}) {
    this.onChange = options.onChange ?? (() => undefined);
    this.setTimer = options.setTimer ?? ((callback, ms) => setTimeout(callback, ms));
    this.clearTimer = options.clearTimer ?? ((timer) => clearTimeout(timer as NodeJS.Timeout));
  }

  /** Holds `identity` (replacing, and wiping, any identity held before). */
  unlock(unlocked: UnlockedIdentity, options: { idleTimeoutMs?: number; cause?: 'unlock' | 'signIn' } = {}): void {
    const previous = this.unlocked;
    const idleTimeoutMs = options.idleTimeoutMs === undefined || options.idleTimeoutMs === 0 ? undefined : options.idleTimeoutMs;
    this.unlocked = { ...unlocked, idleTimeoutMs };
    if (previous !== undefined && previous.identity !== unlocked.identity) previous.identity.wipe();
    this.restartTimer();
    const { card } = unlocked.identity;
    this.onChange({ unlocked: true, cause: options.cause ?? 'unlock', card: card.card, cardId: card.cardId });
  }

  /** Forgets the identity (and the remembered hybrid public keys); false when no identity was held. */
  lock(cause: 'lock' | 'idle' | 'shutdown' = 'lock'): boolean {
    // The hybrid public keys remembered for key-file loads (any identity's, not only the unlocked one's): a lock
    // forgets which were used, also when no identity was unlocked (keyPath calls remember them too).
    forgetHybridPublicKeys();
    const held = this.unlocked;
    if (held === undefined) return false;
    this.unlocked = undefined;
    this.stopTimer();
    held.identity.wipe();
    this.onChange({ unlocked: false, cause });
    return true;
  }

  get isUnlocked(): boolean {
    return this.unlocked !== undefined;
  }

  /**
   * The unlocked identity for a call that needs one, restarting the idle
   * timer; LOCKED when none is held. `why` completes the message
   * ("… to download"), so the user knows which call wanted it.
   */
  use(why: string): UnlockedIdentity {
    const held = this.unlocked;
    if (held === undefined) {
      throw new CloudlockerError('LOCKED', `No identity is unlocked ${why}: unlock one first (cloudlocker unlock), or give keyPath.`);
    }
    this.restartTimer();
    return { identity: held.identity, keyPath: held.keyPath };
  }

  /** The unlocked identity without counting as a use (for getIdentity and status). */
  peek(): UnlockedIdentity | undefined {
    return this.unlocked === undefined ? undefined : { identity: this.unlocked.identity, keyPath: this.unlocked.keyPath };
  }

  /** Public facts of the unlocked identity (never the secret). */
  describe(): { unlocked: boolean; card?: string; cardId?: string; recipient?: string; keyPath?: string; idleTimeoutMs?: number } {
    const held = this.unlocked;
    if (held === undefined) return { unlocked: false };
    const { card } = held.identity;
    return {
      unlocked: true,
      card: card.card,
      cardId: card.cardId,
      recipient: card.recipientString,
      keyPath: held.keyPath,
      ...(held.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: held.idleTimeoutMs }),
    };
  }

  private restartTimer(): void {
    this.stopTimer();
    const held = this.unlocked;
    if (held?.idleTimeoutMs === undefined) return;
    const timer = this.setTimer(() => {
      if (this.unlocked === held) this.lock('idle');
    }, held.idleTimeoutMs);
    timer.unref?.();
    this.timer = timer;
  }

  private stopTimer(): void {
    if (this.timer !== undefined) this.clearTimer(this.timer);
    this.timer = undefined;
  }
}
