/**
 * Fan-out of server-to-client notifications to every authenticated
 * connection, without unbounded buffering for slow readers.
 *
 * Per connection: while its send buffer (`bufferedAmount`) is at or below
 * the high watermark and nothing is queued, a notification goes out at once.
 * Otherwise it is queued and the queue is flushed, in order, once the buffer
 * has drained below the low watermark (checked on a timer while anything is
 * queued). In the queue:
 *
 * - a `transferProgress` published with a `coalesceKey` replaces the pending
 *   progress of the same key (it moves to the back, so what goes out keeps
 *   rising `seq`): a slow reader sees the latest value, not every value;
 * - every other notification (`transferFinished`) is queued and never
 *   dropped; one with a `coalesceKey` ends that key's stream, so the pending
 *   progress for it goes out before it, and nothing later merges into it.
 *
 * The hub does not number notifications: the caller (the transfer engine)
 * owns the server-wide `seq` and puts it in params.
 */
import type { DeleteProgressParams, IdentityChangedParams, NotificationName, TransferFinishedParams, TransferProgressParams } from '../../protocol/index.js';

export type HubNotification =
  | { readonly method: 'transferProgress'; readonly params: TransferProgressParams }
  | { readonly method: 'transferFinished'; readonly params: TransferFinishedParams }
  | { readonly method: 'deleteProgress'; readonly params: DeleteProgressParams }
  | { readonly method: 'identityChanged'; readonly params: IdentityChangedParams };

export interface PublishOptions {
  /**
   * The stream (usually the transferId) this notification belongs to. A
   * queued transferProgress with the same key is replaced by a newer one; a
   * transferFinished with it closes the stream.
   */
  readonly coalesceKey?: string;
}

/** What the hub needs of a connection: a WebSocket fits, and so does a test double. */
export interface NotificationSink {
  /** Bytes accepted by send() but not yet written to the network. */
  readonly bufferedAmount: number;
  send(text: string): void;
}

export interface NotificationHubOptions {
  /** Queue instead of sending when a connection's bufferedAmount exceeds this. Default 1 MiB. */
  readonly highWatermarkBytes?: number;
  /** Resume sending once bufferedAmount is below this. Default 256 KiB. */
  readonly lowWatermarkBytes?: number;
  /** How often a backed-up connection's buffer is checked. Default 20 ms. */
  readonly drainCheckIntervalMs?: number;
  /** Called when a send throws (the connection is then dropped from the hub). */
  readonly onSendError?: (error: unknown) => void;
}

export interface NotificationHubStats {
  readonly connections: number;
  /** Notifications waiting across all connections. */
  readonly queued: number;
  /** Progress notifications replaced by a newer one before they were sent, since start. */
  readonly coalesced: number;
}

interface QueueEntry {
  text: string;
  /** Set for a progress entry that a newer one of the same key may replace. */
  coalesceKey: string | undefined;
}

class ConnectionQueue {
  readonly entries: QueueEntry[] = [];
  /** The replaceable (progress) entry per key, while it is queued. */
  readonly pendingByKey = new Map<string, QueueEntry>();
  timer: NodeJS.Timeout | undefined;

  constructor(readonly sink: NotificationSink) {}
}

export class NotificationHub {
  private readonly connections = new Map<NotificationSink, ConnectionQueue>();
  private readonly highWatermark: number;
  private readonly lowWatermark: number;
  private readonly drainCheckIntervalMs: number;
  private readonly onSendError: (error: unknown) => void;
  private coalescedCount = 0;

  constructor(options: NotificationHubOptions = {}) {
    this.highWatermark = options.highWatermarkBytes ?? 1024 * 1024;
    this.lowWatermark = Math.min(options.lowWatermarkBytes ?? 256 * 1024, this.highWatermark);
    this.drainCheckIntervalMs = options.drainCheckIntervalMs ?? 20;
    this.onSendError = options.onSendError ?? (() => undefined);
  }

  /** Start sending to a connection. Returns the function that stops it (and drops its queue). */
  add(sink: NotificationSink): () => void {
    if (!this.connections.has(sink)) this.connections.set(sink, new ConnectionQueue(sink));
    return () => this.remove(sink);
  }

  remove(sink: NotificationSink): void {
    const queue = this.connections.get(sink);
    if (queue === undefined) return;
    if (queue.timer !== undefined) clearInterval(queue.timer);
    this.connections.delete(sink);
  }

  publish(notification: HubNotification, options: PublishOptions = {}): void {
    if (this.connections.size === 0) return;
    const text = JSON.stringify({ jsonrpc: '2.0', method: notification.method, params: notification.params });
    const coalescable = isCoalescable(notification.method) && options.coalesceKey !== undefined;
    for (const queue of [...this.connections.values()]) {
      this.deliver(queue, text, coalescable ? options.coalesceKey : undefined, options.coalesceKey);
    }
  }

  stats(): NotificationHubStats {
    let queued = 0;
    for (const queue of this.connections.values()) queued += queue.entries.length;
    return { connections: this.connections.size, queued, coalesced: this.coalescedCount };
  }

  /** Forget every connection and stop every timer. */
  close(): void {
    for (const sink of [...this.connections.keys()]) this.remove(sink);
  }

  private deliver(queue: ConnectionQueue, text: string, replaceKey: string | undefined, streamKey: string | undefined): void {
    if (queue.entries.length === 0 && queue.sink.bufferedAmount <= this.highWatermark) {
      this.send(queue, text);
      return;
    }
    if (replaceKey !== undefined) {
      const pending = queue.pendingByKey.get(replaceKey);
      if (pending !== undefined) {
        queue.entries.splice(queue.entries.indexOf(pending), 1);
        this.coalescedCount += 1;
      }
      const entry: QueueEntry = { text, coalesceKey: replaceKey };
      queue.entries.push(entry);
      queue.pendingByKey.set(replaceKey, entry);
    } else {
      queue.entries.push({ text, coalesceKey: undefined });
      // The stream has ended: its queued progress stays ahead of this entry, and nothing later may merge into it.
      if (streamKey !== undefined) queue.pendingByKey.delete(streamKey);
    }
    this.scheduleDrain(queue);
  }

  private scheduleDrain(queue: ConnectionQueue): void {
    if (queue.timer !== undefined) return;
    queue.timer = setInterval(() => this.drain(queue), this.drainCheckIntervalMs);
    queue.timer.unref();
  }

  private drain(queue: ConnectionQueue): void {
    if (queue.sink.bufferedAmount >= this.lowWatermark) return;
    while (queue.entries.length > 0 && queue.sink.bufferedAmount <= this.highWatermark) {
      const entry = queue.entries.shift() as QueueEntry;
      if (entry.coalesceKey !== undefined && queue.pendingByKey.get(entry.coalesceKey) === entry) {
        queue.pendingByKey.delete(entry.coalesceKey);
      }
      if (!this.send(queue, entry.text)) return;
    }
    if (queue.entries.length === 0 && queue.timer !== undefined) {
      clearInterval(queue.timer);
      queue.timer = undefined;
    }
  }

  /** False when the connection failed and was dropped. */
  private send(queue: ConnectionQueue, text: string): boolean {
    try {
      queue.sink.send(text);
      return true;
    } catch (error) {
      this.remove(queue.sink);
      this.onSendError(error);
      return false;
    }
  }
}

function isCoalescable(method: NotificationName): boolean {
  return method === 'transferProgress' || method === 'deleteProgress';
}
