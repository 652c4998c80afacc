/**
 * Resuming a transfer group (uploadFolder, downloadFolder) after a restart:
 * its journal entry (transfer-journal.ts: the request in `<groupId>.json`,
 * the members in the append-only `<groupId>.done`) read back as what was
 * done, what failed and what was in flight, and the rules a resume applies:
 *
 * - A member logged **done** is skipped only once checked again: an upload's
 *   object still has the version it had right after it was stored (and its
 *   local file the size and modification time it was read with: a file
 *   changed since is SOURCE_CHANGED in `failed`, the stored one is kept); a
 *   download's file still has its size. Otherwise it is transferred again.
 * - A member logged **failed** stays in `failed` (as it would have without
 *   the interruption); it is not tried again.
 * - A member **started** but not done may have finished just before the
 *   crash (its object stored or its file renamed into place, the done line
 *   not yet written). When its object (or file) is there now and was not
 *   before it started (the "started" line keeps the version seen then), it
 *   is this group's own and is transferred again over it; a download's
 *   leftover temporary is removed.
 *
 * The methods (upload-folder.ts, download-folder.ts) walk the folder or list
 * the store again and register a GroupResumer per kind with ResumableTransfers.
 */
import type { DownloadFolderResult, ErrorObject, UploadFolderResult } from '../../protocol/index.js';
import type { LoadedKey } from '../crypto/index.js';
import type { GroupCheckpoints, ResumedGroup } from './transfer-group.js';
import type { GroupLogLine, GroupParameters, JournalEntry } from './transfer-journal.js';
import type { TransferReservation } from './transfer-requests.js';

type DoneLine = Extract<GroupLogLine, { done: string }>;
type StartedLine = Extract<GroupLogLine, { started: string }>;

/** A group's log, by member name (later lines win: a member redone after a resume). */
export interface GroupLogSummary {
  readonly done: Map<string, DoneLine>;
  readonly failed: Map<string, { path: string; error: ErrorObject }>;
  /** Members started and neither done nor failed since. */
  readonly inFlight: Map<string, StartedLine>;
}

export function summarizeGroupLog(lines: readonly GroupLogLine[]): GroupLogSummary {
  const done = new Map<string, DoneLine>();
  const failed = new Map<string, { path: string; error: ErrorObject }>();
  const inFlight = new Map<string, StartedLine>();
  for (const line of lines) {
    if ('started' in line) {
      inFlight.set(line.started, line);
      done.delete(line.started);
      failed.delete(line.started);
    } else if ('done' in line) {
      inFlight.delete(line.done);
      done.set(line.done, line);
    } else {
      inFlight.delete(line.failed);
      failed.set(line.failed, { path: line.path, error: line.error });
    }
  }
  return { done, failed, inFlight };
}

/** The counters an interrupted group is listed with. */
export function groupProgress(summary: GroupLogSummary, filesTotal: number): { doneBytes: number; filesDone: number; filesFailed: number; filesTotal: number } {
  let doneBytes = 0;
  for (const line of summary.done.values()) doneBytes += line.size;
  return { doneBytes, filesDone: summary.done.size + summary.failed.size, filesFailed: summary.failed.size, filesTotal };
}

/** What a resumer is handed: the group's request, its log, and where to go on logging. */
export interface GroupResumeContext<P extends GroupParameters = GroupParameters> {
  readonly transferId: string;
  readonly name: string;
  readonly startedAt: number;
  readonly parameters: P;
  readonly summary: GroupLogSummary;
  readonly checkpoints: GroupCheckpoints;
  /** The group's reservation (a fresh controller) under its own id. */
  readonly reservation: TransferReservation;
}

/**
 * `loadKey`: the group's key, as a single transfer's resume finds it: the
 * identity unlocked in the service when its card id is the journaled
 * `keyCardId` and no passphrase was given, else the key file (a protected one
 * without its passphrase: KEY_INVALID, and the group stays interrupted).
 */
export type GroupResumer<P extends GroupParameters = GroupParameters> = (
  context: GroupResumeContext<P>,
  loadKey: () => Promise<LoadedKey>,
) => Promise<UploadFolderResult | DownloadFolderResult>;

/** The counters a resumed group starts from, given the members it keeps as done (checked) and the failures logged. */
export function resumedGroup(context: GroupResumeContext, kept: Iterable<{ size: number }>, extraFailed: ResumedGroup['failed'] = []): ResumedGroup {
  let filesDone = 0;
  let size = 0;
  for (const item of kept) {
    filesDone += 1;
    size += item.size;
  }
  const failed = [...context.summary.failed].map(([name, { path, error }]) => ({ name, path, error }));
  return { startedAt: context.startedAt, filesDone, size, failed: [...failed, ...extraFailed] };
}

/** A journal entry's GroupCheckpoints: log lines appended, the outcome recorded before anyone is told. */
export function journalGroupCheckpoints(entry: JournalEntry): GroupCheckpoints {
  return {
    log: (line) => entry.appendLog(line),
    finish: (outcome, detail) => entry.finish(outcome, detail),
  };
}
