/**
 * Calls of the callback fs API still in flight on one descriptor (in libuv's
 * thread pool). A descriptor must not be closed while one is: the OS may give
 * its number to the next file opened, and a late write would land there. An
 * asynchronous close waits for idle(); a synchronous one calls assertIdle().
 */
export class InFlightCalls {
  private count = 0;
  private waiters: (() => void)[] = [];

  get size(): number {
    return this.count;
  }

  /** Issues one call through `issue`, counted until its callback runs (a call with no value, such as fsync, passes `done` as its callback). */
  run<T>(issue: (done: (err: NodeJS.ErrnoException | null, value?: T) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const done = (err: NodeJS.ErrnoException | null, value?: T): void => {
        if (settled) return;
        settled = true;
        this.settleOne();
        if (err) reject(err);
        else resolve(value as T);
      };
      this.count++;
      try {
        issue(done);
      } catch (err) {
        done(err as NodeJS.ErrnoException);
      }
    });
  }

  /** Resolves once no call is in flight. */
  idle(): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** A programming error: a synchronous close with a call still in flight. */
  assertIdle(what: string): void {
    if (this.count !== 0) throw new Error(`${what} closed with ${this.count} call(s) still in flight on its descriptor.`);
  }

  private settleOne(): void {
    this.count--;
    if (this.count !== 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
