// Backend-neutral pieces of the Store implementations: request validation (so both backends reject the
// same requests with the same errors) and ordered, asynchronous delivery of watch events.

import { RomanaError } from '../core/errors.js';
import type { Compare, Op, Read, WatchEvent, WatchHandlers } from './store.js';

export function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key === '') throw new RomanaError('invalid', 'store key must be a non-empty string');
}

/** A watch start revision: a finite number (0 and negatives mean "all retained history"). */
export function checkFromRevision(rev: unknown): number {
  if (typeof rev !== 'number' || !Number.isFinite(rev)) throw new RomanaError('invalid', `watch: bad fromRevision ${String(rev)}`);
  return Math.max(1, Math.floor(rev));
}

/** The checks etcd makes before evaluating a txn; SQLite makes them too so both backends agree. */
export function validateTxn(compares: Compare[], ops: Op[]): void {
  for (const c of compares) checkKey(c.key);
  const seen = new Set<string>();
  for (const op of ops) {
    checkKey(op.key);
    if (op.type === 'put' && typeof op.value !== 'string') {
      throw new RomanaError('invalid', `store value for '${op.key}' must be a string`);
    }
    // etcd refuses this ("duplicate key given in txn request"): the outcome would depend on op order.
    if (seen.has(op.key)) throw new RomanaError('invalid', `duplicate key given in txn request: '${op.key}'`);
    seen.add(op.key);
  }
}

/** Reads name a key or a prefix ('' lists everything, as list('') does). */
export function validateReads(reads: Read[]): void {
  for (const r of reads) {
    if (r && typeof r === 'object' && 'key' in r) checkKey(r.key);
    else if (!r || typeof r !== 'object' || typeof (r as { prefix?: unknown }).prefix !== 'string') throw new RomanaError('invalid', 'a read must be {key} or {prefix}');
  }
}

/** Splits events (in revision order) into one batch per revision, i.e. per transaction. */
export function groupByRevision(events: WatchEvent[]): WatchEvent[][] {
  const batches: WatchEvent[][] = [];
  for (const e of events) {
    const last = batches[batches.length - 1];
    if (last && last[0].revision === e.revision) last.push(e);
    else batches.push([e]);
  }
  return batches;
}

export function compactedError(prefix: string, from: number, detail: string): RomanaError {
  return new RomanaError(
    'conflict',
    `watch '${prefix}' from revision ${from}: ${detail}; list again and watch from the listing revision + 1`,
  );
}

/**
 * Hands a watch's batches to its handlers in order, on a later macrotask (setImmediate). So handlers
 * never run inside a store write or inside the backend's network callback, and never before `watch()`
 * has resolved to the caller. After `fail` or `stop`, nothing more is delivered.
 */
export class WatchDelivery {
  private queue: WatchEvent[][] = [];
  private error: Error | undefined;
  private scheduled = false;
  private stopped = false;

  constructor(
    private readonly label: string,
    private readonly handlers: WatchHandlers,
    /** Called once when delivery ends for any reason, to release the backend's resources. */
    private readonly release: () => void,
  ) {}

  get active(): boolean {
    return !this.stopped && this.error === undefined;
  }

  push(batch: WatchEvent[]): void {
    if (!this.active || batch.length === 0) return;
    this.queue.push(batch);
    this.schedule();
  }

  /** Ends the watch with `err`, after the batches already queued. */
  fail(err: Error): void {
    if (!this.active) return;
    this.error = err;
    this.schedule();
  }

  /** Ends the watch silently (Watch.close); queued batches are dropped. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.queue = [];
    this.release();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    while (!this.stopped && this.queue.length > 0) {
      const batch = this.queue.shift()!;
      try {
        this.handlers.onEvents(batch);
      } catch (err) {
        // A throwing handler would otherwise lose events silently; end the watch loudly instead.
        this.queue = [];
        this.error = new RomanaError('internal', `${this.label}: onEvents threw: ${(err as Error).message}`);
      }
    }
    if (!this.stopped && this.error !== undefined) {
      const err = this.error;
      this.stop();
      this.handlers.onError?.(err);
    }
  }
}
