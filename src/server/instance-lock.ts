/**
 * One server per data directory. Two servers on one data directory would
 * share the transfer journal and the store and overwrite each other's
 * server.json, so the second is refused before it touches anything.
 *
 * The lock is `<dataDir>/server.lock`, created exclusively (O_EXCL) and
 * holding the owner's pid, host name and a random nonce. A lock left behind
 * by a process that died without cleaning up (kill -9, power loss) is stale
 * when its pid no longer runs on this host, and is taken over at once: no
 * waiting for an mtime to age, no timer rewriting the file while the server
 * runs (why not `proper-lockfile`: its staleness is an mtime older than
 * `stale`, at least 2 s, so a restart right after a crash is refused, and a
 * busy event loop that misses its refresh loses the lock to another process).
 *
 * Taking over a stale lock goes through a short-lived guard file, so two
 * processes that both found the same stale lock cannot both remove it and
 * each think it holds the new one: only the one holding the guard removes
 * the lock, and only if it is still the stale one it read.
 *
 * The guard (`server.lock.takeover`) holds its taker's pid, host name and a
 * nonce, like the lock. A normal start never reads it; it is read by a start
 * that finds it in its way, and by its own taker (just before removing the
 * stale lock, and at the end, before removing the guard: only its own). A
 * guard whose owner no longer runs on this host (a taker that crashed in the
 * middle of a take-over) is broken at once; one whose owner runs is left
 * alone until it is older than 60 s (LIVE_GUARD_MAX_MS); one whose owner
 * cannot be checked is broken by age alone, once not modified for 10 s
 * (FRESH_MS): another host's, an old-format one (`<pid>`, not JSON), one
 * naming a pid process.kill does not accept, and an EMPTY one on this host
 * (created and not yet written). A guard is broken by moving it aside under
 * a name of the breaker's own (rename is atomic) and reading what was moved:
 * only if it is exactly what the breaker read (and, when that names no owner,
 * still old) is it deleted and the breaker goes on; anything else (the guard
 * another taker has made since, or something it cannot read) is put back,
 * never deleted, and a put-back that keeps failing refuses the start with a
 * DataDirInUseError naming the files. On Windows, EPERM/EACCES/EBUSY when
 * creating the lock or the guard or reading them (a file deleted while open
 * elsewhere is "delete pending" until closed; antivirus, indexers) mean
 * "busy now" (elsewhere only EBUSY does: EPERM/EACCES are thrown as the
 * permission problems they are): waited for within the bounded attempts
 * (MAX_ATTEMPTS x GUARD_WAIT_MS, about 5 s), then refused as in use with a
 * message saying the lock or guard stayed busy.
 *
 * Why 60 s for a live owner's guard (kept, not lowered to 30 s): a guard is
 * held for milliseconds, so the limit only matters in two rare cases that
 * pull opposite ways. Lower, a guard whose crashed owner's pid was reused
 * refuses starts for less time; higher, a live taker that is paused (a
 * debugger, swapping) keeps its guard longer. The first costs a refused
 * start with a clear message for at most a minute; the second costs two
 * servers on one data directory. We chose the safer failure.
 *
 * Limits, said plainly:
 * - a pid reused by an unrelated process after a crash makes the lock look
 *   held (the message names the file to delete); the same for a guard, but
 *   only until it is 60 s old;
 * - a lock written on another host (a data directory on a network share) is
 *   never taken over, since its pid cannot be checked from here;
 * - the locks and guards this process holds are known per JavaScript realm
 *   (globalThis, see heldHere), shared by two copies of this module loaded in
 *   one process only if both copies have it (older copies keep a set of their
 *   own), and not across worker threads: a server started in a worker thread
 *   and another in the main thread on the same data directory would each take
 *   the other's lock, or break the other's live guard at once, as one left by
 *   an earlier process with our pid;
 * - a guard broken while its taker still works under it lets a second taker
 *   in: the first, resumed, can remove the second's new lock and make its own
 *   (two servers on one data directory). Its taker checks its guard is still
 *   its own just before removing the stale lock, which narrows this to the
 *   microseconds between that read and the removal; it does not close it.
 *   A live guard is broken when its taker is paused (a stopped process, a
 *   debugger, heavy swapping) for more than 60 s, or more than 10 s when the
 *   guard cannot be checked: another host's, or still EMPTY (paused between
 *   creating and writing it); and at once when it is another worker thread's;
 * - two starts breaking one guard: putting back a guard moved aside by
 *   mistake is a second rename, and a third start creating its own guard in
 *   the microseconds between the two has it replaced by the put-back and runs
 *   its take-over alongside the guard's owner (unless its check just before
 *   removing the stale lock comes after the put-back). Any guard broken can
 *   lead there, not only a crashed taker's: one whose taker was paused past
 *   its limit, one whose pid was reused (at 60 s), an old-format one (at
 *   10 s), a worker thread's; it then needs three starts at once with that
 *   timing;
 * - a breaker that crashes between moving a guard aside and deleting or
 *   putting it back leaves it as `server.lock.takeover.<hex>.removed`; if that
 *   guard was live, its taker goes on without a guard (as above). Such files
 *   are deleted by a later take-over once 60 s old;
 * - a clock stepped backwards keeps an old guard, or an old unreadable lock,
 *   "fresh" until the clock has caught up: starts are refused meanwhile.
 * If starts keep being refused and no cloudlocker server runs on the data
 * directory, delete `server.lock`, `server.lock.takeover` and any
 * `server.lock.takeover.*.removed` in it.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';

export const LOCK_FILE_NAME = 'server.lock';

/** A guard or lock file with no readable owner, younger than this, may be one being written right now. */
const FRESH_MS = 10_000;
/** A guard whose owner still runs on this host is broken only when older than this (its pid may have been reused after a crash). */
const LIVE_GUARD_MAX_MS = 60_000;
const GUARD_WAIT_MS = 25;
const MAX_ATTEMPTS = 200;

interface LockOwner {
  readonly pid: number;
  readonly hostname: string;
  readonly nonce: string;
  readonly startedAt: string;
}

/** Another live server holds this data directory. */
export class DataDirInUseError extends Error {
  override readonly name = 'DataDirInUseError';
  constructor(
    readonly dataDir: string,
    readonly lockFile: string,
    /** The owner's pid, when the lock file names one. */
    readonly ownerPid: number | undefined,
    /** Replaces the usual advice, when the start was refused for another reason than a lock held by a server. */
    detail?: string,
  ) {
    super(
      `Another cloudlocker server is already running on the data directory ${dataDir}` +
        (ownerPid === undefined ? '' : ` (process ${ownerPid})`) +
        (detail === undefined
          ? ': stop it first, or use another --data-dir. ' + `If no such server runs (its process id was reused), delete ${lockFile}.`
          : `, or starting on it: ${detail}`),
    );
  }
}

export interface InstanceLock {
  readonly file: string;
  /** Remove the lock file if it is still this lock's. Safe to call twice. */
  release(): Promise<void>;
}

/**
 * Lock and guard files this process holds or is writing right now, as `file` + newline + nonce: a second start
 * in the same process is refused like one in another process. A nonce is in before its file is created, so
 * another attempt of this process that reads the file while it is being written (or before the first attempt
 * has returned) sees a live owner, not a stale lock (or abandoned guard) to remove.
 *
 * One set per global object (a thread's: each worker thread has its own), not per copy of this module: it
 * lives on globalThis under a registered symbol, so two copies loaded in one process (an Electron app whose
 * bundler put the server into two outputs, or that loads both dist/ and a bundled copy) each see the other's
 * locks as this process's live ones, not as a previous process's that had our pid. The symbol's name and the
 * entries' form are what the copies share: change them together, with the `.v1`.
 */
const HELD_REGISTRY = Symbol.for('cloudlocker.instance-lock.held.v1');
const heldHere: Set<string> = ((globalThis as unknown as Record<symbol, Set<string> | undefined>)[HELD_REGISTRY] ??= new Set<string>());
const heldKey = (file: string, nonce: string): string => `${file}\n${nonce}`;

function newOwner(): LockOwner {
  return { pid: process.pid, hostname: hostname(), nonce: randomBytes(16).toString('hex'), startedAt: new Date().toISOString() };
}

export async function acquireInstanceLock(dataDir: string): Promise<InstanceLock> {
  const file = path.join(path.resolve(dataDir), LOCK_FILE_NAME);
  const owner = newOwner();
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt += 1) {
    heldHere.add(heldKey(file, owner.nonce));
    let created: boolean | 'busy' = false;
    try {
      created = await createExclusive(file, `${JSON.stringify(owner)}\n`);
    } finally {
      if (created !== true) heldHere.delete(heldKey(file, owner.nonce));
    }
    if (created === true) return lockHandle(file, owner.nonce);
    const seen = created === 'busy' ? BUSY : await readRawOrBusy(file);
    if (seen === BUSY) {
      // Windows: a lock just deleted while open elsewhere ("delete pending"), or held by an antivirus: wait.
      await sleep(GUARD_WAIT_MS);
      continue;
    }
    if (seen === undefined) continue; // removed meanwhile: try again
    const holder = parseOwner(seen);
    if (holder === undefined) {
      // Unreadable: a process may be between creating and writing it.
      if (await isFresh(file)) throw new DataDirInUseError(dataDir, file, undefined);
    } else if (ownerRuns(holder, file) !== false) {
      // Running, or on another host (which cannot be checked from here: assumed running).
      throw new DataDirInUseError(dataDir, file, holder.pid);
    }
    await removeIfStill(file, seen, dataDir);
  }
  throw new DataDirInUseError(
    dataDir,
    file,
    undefined,
    `its lock or take-over guard stayed busy for about ${(MAX_ATTEMPTS * GUARD_WAIT_MS) / 1000} s (another start taking over a stale lock; ` +
      'on Windows also a file held open by another program, such as an antivirus). Try again; if starts keep being refused and no ' +
      `cloudlocker server runs on this data directory, delete ${file} and ${file}.takeover.`,
  );
}

function lockHandle(file: string, nonce: string): InstanceLock {
  let released = false;
  return {
    file,
    async release() {
      if (released) return;
      released = true;
      try {
        const current = await readRaw(file);
        if (current !== undefined && parseOwner(current)?.nonce === nonce) await rm(file, { force: true });
      } finally {
        // Only once the file is gone: until then another attempt of this process reading it sees a live owner,
        // not a stale lock of a previous process with our pid.
        heldHere.delete(heldKey(file, nonce));
      }
    },
  };
}

/**
 * Whether the owner of a lock or guard file still runs; undefined when that cannot be told from here (another
 * host, or process.kill failing otherwise than ESRCH/EPERM).
 */
function ownerRuns(owner: LockOwner, file: string): boolean | undefined {
  if (owner.hostname !== hostname()) return undefined;
  // This very process: running only if the file is one of ours right now (else a previous process had our pid).
  if (owner.pid === process.pid) return heldHere.has(heldKey(file, owner.nonce));
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // EPERM: the process exists but belongs to someone else. ESRCH: no such process. Anything else says nothing
    // about the process (parseOwner keeps pids process.kill accepts, so this is not expected): cannot tell.
    if (code === 'EPERM') return true;
    if (code === 'ESRCH') return false;
    return undefined;
  }
}

/** Remove a stale lock, if it still holds exactly `stale`, under the take-over guard. */
async function removeIfStill(file: string, stale: string, dataDir: string): Promise<void> {
  const guard = `${file}.takeover`;
  const taker = newOwner();
  const mine = `${JSON.stringify(taker)}\n`;
  heldHere.add(heldKey(guard, taker.nonce));
  try {
    const created = await createExclusive(guard, mine);
    if (created !== true) {
      // Someone else is taking over (wait for them), or crashed doing it (break their guard); busy (Windows:
      // the name is a guard deleted while still open elsewhere, "delete pending", or an antivirus holds it): wait.
      if (created === 'busy' || !(await breakAbandonedGuard(guard, dataDir))) await sleep(GUARD_WAIT_MS);
      return;
    }
    try {
      // Same content is not enough for a lock with no readable owner: an empty stale lock reads as "", and so
      // does the lock another taker has just created and not yet written. That one is fresh; remove only an
      // unreadable lock that is still old (else both takers win: the first writes to the lock the second removed).
      const raw = await readRawOrBusy(file);
      // And only while the guard is still ours: if it was broken while we were held up (paused past its age limit,
      // or a third start's guard replaced it between a breaker's two renames), another taker may be inside now and
      // the lock there its new one. This narrows that window to the microseconds between this read and the rm; it
      // does not close it (see the header).
      if (
        raw === stale &&
        (parseOwner(stale) !== undefined || (await isOld(file))) &&
        (await readRawOrBusy(guard)) === mine
      ) {
        await rm(file, { force: true });
      }
      await removeOldAsideFiles(guard);
    } finally {
      // Only our own: if ours was broken while we were held up, the guard there now is the next taker's. A guard
      // we cannot read now (busy, or any error: not worth failing the start over) is left. It matters only to a
      // start that finds a stale lock: one in this process breaks it at once (its nonce is no longer held), one
      // in another process once our pid is gone or the guard is 60 s old.
      if ((await readRawOrBusy(guard).catch(() => BUSY)) === mine) await rm(guard, { force: true });
    }
  } finally {
    // Only once our guard is gone: until then another attempt of this process sees it as a live taker's.
    heldHere.delete(heldKey(guard, taker.nonce));
  }
}

/**
 * Break the guard in our way if its taker is gone: at once when its owner no longer runs on this host, when
 * older than LIVE_GUARD_MAX_MS if it runs, by age (FRESH_MS) when that cannot be told (another host's, or no
 * readable owner). Only a guard seen: one that is gone when looked at may have been replaced by the next
 * taker's, and removing that one let two takers in at once (two winners, seen in test/server/instance-lock's
 * concurrent takeovers). Returns whether the next attempt may come at once (the guard is gone).
 */
async function breakAbandonedGuard(guard: string, dataDir: string): Promise<boolean> {
  const seen = await readRawOrBusy(guard);
  if (seen === undefined || seen === BUSY) return false;
  const owner = parseOwner(seen);
  const runs = owner === undefined ? undefined : ownerRuns(owner, guard);
  const abandoned = runs === false || (await isOlderThan(guard, runs === true ? LIVE_GUARD_MAX_MS : FRESH_MS));
  return abandoned && (await removeExactly(guard, seen, owner === undefined, dataDir));
}

/**
 * Remove `file` only if it is still what was read as `seen` (and, when `seen` names no owner and so could be
 * another file just created and not yet written, only if still old). No file system removes on a condition, so
 * the file is moved aside first under a name of our own: rename is atomic, so of two takers breaking the same
 * abandoned guard at once one moves it, and the other moves nothing or the guard the first has made since,
 * which it puts back (a guard's content holds a nonce: equal content is the same guard). Returns whether what
 * was read is gone.
 *
 * What was moved aside is deleted only once it has been read and found to be exactly what was read; in every
 * other case (different, still fresh, or unreadable) it is put back, and never deleted: it may be a live
 * taker's guard. A put-back that keeps failing is a DataDirInUseError naming the file, not a raw errno.
 */
async function removeExactly(file: string, seen: string, mustBeOld: boolean, dataDir: string): Promise<boolean> {
  const aside = `${file}.${randomBytes(8).toString('hex')}.removed`;
  try {
    await rename(file, aside);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return true; // gone already
    // Not its taker's open handle (Node opens files with FILE_SHARE_DELETE, which lets them be renamed while
    // open): on Windows an antivirus or indexer holding it, or the name of a file deleted while still open
    // elsewhere ("delete pending"). Not to be broken now: try again later. (Any platform, as before: on POSIX an
    // EPERM here is a sticky directory's other-user file, which a later attempt refuses as in use.)
    if (code === 'EPERM' || code === 'EBUSY' || code === 'EACCES') return false;
    throw err;
  }
  let moved: string | undefined | typeof BUSY;
  try {
    moved = await readRawOrBusy(aside);
  } catch {
    moved = BUSY; // cannot tell what we moved: put it back
  }
  if (moved === undefined) return true; // removed by someone else meanwhile
  if (moved === seen && (!mustBeOld || (await isOld(aside)))) {
    // Exactly what was read: the abandoned guard. Failing to delete it is not worth failing the start over: it
    // is under a name of our own that nobody reads.
    await rm(aside, { force: true }).catch(() => undefined);
    return true;
  }
  // Not what was read (the guard a taker has made since, which it is working under), or cannot tell: put it back.
  await putBack(aside, file, dataDir);
  return false;
}

/**
 * Delete guards moved aside (`<guard>.<hex>.removed`) and not modified for LIVE_GUARD_MAX_MS: left by a breaker that
 * crashed between moving a guard aside and deleting or putting it back. Nobody reads them; their taker, if it was a
 * live one, has long finished (or lost its guard: see the header). Best effort: a failure here fails no start.
 */
async function removeOldAsideFiles(guard: string): Promise<void> {
  const prefix = `${path.basename(guard)}.`;
  try {
    const directory = path.dirname(guard);
    for (const name of await readdir(directory)) {
      if (!name.startsWith(prefix) || !name.endsWith('.removed')) continue;
      const aside = path.join(directory, name);
      if (await isOlderThan(aside, LIVE_GUARD_MAX_MS)) await rm(aside, { force: true });
    }
  } catch {
    // best effort
  }
}

const PUT_BACK_ATTEMPTS = 8;

/** Rename `aside` back to `file`, retrying a busy rename (Windows); a rename that keeps failing is a DataDirInUseError. */
async function putBack(aside: string, file: string, dataDir: string): Promise<void> {
  let last: unknown;
  for (let attempt = 0; attempt < PUT_BACK_ATTEMPTS; attempt += 1) {
    try {
      await rename(aside, file);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // removed meanwhile (its taker's own cleanup did not find it: see header)
      last = err;
      await sleep(GUARD_WAIT_MS);
    }
  }
  const code = (last as NodeJS.ErrnoException | undefined)?.code ?? String(last);
  throw new DataDirInUseError(
    dataDir,
    path.join(dataDir, LOCK_FILE_NAME),
    undefined,
    `a take-over guard another start had just made could not be put back from ${aside} to ${file} (${code}). ` +
      'Try again in a minute; if starts keep being refused and no cloudlocker server runs on this data directory, ' +
      `delete ${path.join(dataDir, LOCK_FILE_NAME)}, ${file} and ${aside}.`,
  );
}

/** Create `file` with `content` if it does not exist: true if created, false if it exists, 'busy' (Windows) when its name cannot be used now. */
async function createExclusive(file: string, content: string): Promise<boolean | 'busy'> {
  let handle;
  try {
    handle = await open(file, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    if (isBusy(err)) return 'busy';
    throw err;
  }
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return true;
}

/**
 * Answers for a name that cannot be used right now, worth waiting for: EBUSY; and on Windows EPERM/EACCES, for a
 * file deleted while another process still has it open ("delete pending": open, read and stat of the name fail
 * until it is closed) or one an antivirus or indexer holds. Elsewhere EPERM/EACCES are a permission problem that
 * waiting does not fix: thrown as they are. (process.platform is read at each call, so a test can play Windows.)
 */
function isBusy(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EBUSY' || (process.platform === 'win32' && (code === 'EPERM' || code === 'EACCES'));
}

const BUSY: unique symbol = Symbol('busy');

/**
 * Not node:timers/promises' setTimeout, as the S3 code uses: this module runs at every start, and one more
 * built-in loaded there is compiled without Node's code cache (test/bundle checks; tools/bundle-startup-builtins.ts).
 */
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** readRaw, with BUSY for a name that cannot be read now (isBusy). */
async function readRawOrBusy(file: string): Promise<string | undefined | typeof BUSY> {
  try {
    return await readRaw(file);
  } catch (err) {
    if (isBusy(err)) return BUSY;
    throw err;
  }
}

async function readRaw(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Whether `file` exists and has not been modified for `ms` (false when it cannot be seen). */
async function isOlderThan(file: string, ms: number): Promise<boolean> {
  try {
    return Date.now() - (await stat(file)).mtimeMs >= ms;
  } catch {
    return false;
  }
}

/** Whether `file` exists and has not been modified for FRESH_MS (false when it cannot be seen). */
function isOld(file: string): Promise<boolean> {
  return isOlderThan(file, FRESH_MS);
}

async function isFresh(file: string): Promise<boolean> {
  try {
    return Date.now() - (await stat(file)).mtimeMs < FRESH_MS;
  } catch {
    return false;
  }
}

/** The largest pid process.kill accepts (a signed 32-bit integer); a larger one made it throw ERR_INVALID_ARG_TYPE. */
const MAX_PID = 0x7fffffff;

/** The owner a lock or guard file names; undefined when it names none that can be checked (corrupt, old format, out-of-range pid). */
function parseOwner(raw: string): LockOwner | undefined {
  try {
    const value = JSON.parse(raw) as Partial<LockOwner>;
    if (
      typeof value.pid === 'number' &&
      Number.isInteger(value.pid) &&
      value.pid >= 1 &&
      value.pid <= MAX_PID &&
      typeof value.hostname === 'string' &&
      typeof value.nonce === 'string'
    ) {
      return value as LockOwner;
    }
  } catch {
    // not JSON
  }
  return undefined;
}
