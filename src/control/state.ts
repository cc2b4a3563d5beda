// Shared plumbing of romanad's control layer: the store, a cached parse of the topology key, and the
// compare-and-swap retry loop every mutation runs in.
import { RomanaError } from '../core/errors.js';
import { type Layout, parseTopology } from '../core/topology/layout.js';
import type { Placements } from '../core/topology/placement.js';
import type { Compare, KeyValue, Op, Read, Store } from '../store/store.js';
import { TOPOLOGY } from './keys.js';
import { RecordCache } from './records-cache.js';

export interface TopologyRecord {
  document: unknown;
  placements: Placements;
}

export interface TopologyState {
  layout: Layout;
  placements: Placements;
  /** modRevision of the topology key (compare against it to act on this exact state). */
  revision: number;
}

export const parseJson = <T>(kv: KeyValue | undefined): T | undefined => (kv ? (JSON.parse(kv.value) as T) : undefined);

/** A compare that holds when the key is still exactly as read (or still absent). */
export const unchanged = (key: string, kv: KeyValue | undefined): Compare => ({ key, modRevision: kv?.modRevision ?? 0 });
export const put = (key: string, value: unknown): Op => ({ type: 'put', key, value: typeof value === 'string' ? value : JSON.stringify(value) });
export const del = (key: string): Op => ({ type: 'delete', key });

/** Thrown inside a CAS attempt when the state moved under it; the loop tries again. */
export class Retry extends Error {}

/** One attempt's transaction; `reads` are read back in the same round trip should its compares fail. */
export interface Plan<T> { compares: Compare[]; ops: Op[]; result: T; reads?: Read[] }

/** What the failed transaction of the previous attempt read back: its `reads` and their results. */
export interface Failed { reads: Read[]; results: KeyValue[][] }

export class ControlState {
  private cached?: TopologyState;
  /** Records allocations read, kept behind compares (see records-cache.ts). */
  readonly records = new RecordCache();

  constructor(readonly store: Store) {}

  /** The current topology; `fresh` re-reads the key (it is re-parsed only when it changed). */
  async topology(fresh = true): Promise<TopologyState | undefined> {
    if (!fresh && this.cached) return this.cached;
    return this.learnTopology(await this.store.get(TOPOLOGY));
  }

  /** The topology key as just read (e.g. by a failed transaction). */
  learnTopology(kv: KeyValue | undefined): TopologyState | undefined {
    if (!kv) {
      this.cached = undefined;
      return undefined;
    }
    if (this.cached?.revision !== kv.modRevision) {
      const rec = JSON.parse(kv.value) as TopologyRecord;
      this.cached = { layout: parseTopology(rec.document), placements: rec.placements, revision: kv.modRevision };
    }
    return this.cached;
  }

  /**
   * Runs `attempt` until its transaction commits. An attempt reads what it needs, decides, and returns
   * the compares and ops of its transaction plus the result to hand back; it throws a RomanaError to
   * give up with an answer, or Retry to start over. After a failed commit it runs again on fresh state:
   * what the plan's `reads` brought back is handed to it, so it need not read again.
   */
  async cas<T>(what: string, attempt: (n: number, failed?: Failed) => Promise<Plan<T>>): Promise<T> {
    let failed: Failed | undefined;
    for (let n = 0; n < 200; n++) {
      if (n > 0) await new Promise((r) => setTimeout(r, Math.min(50, n * 2) * Math.random()));
      let plan: Plan<T>;
      try {
        plan = await attempt(n, failed);
      } catch (e) {
        failed = undefined;
        if (e instanceof Retry) continue;
        throw e;
      }
      if (plan.ops.length === 0) return plan.result;
      const r = await this.store.txn(plan.compares, plan.ops, plan.reads);
      if (r.succeeded) {
        this.records.applied(plan.ops, r.revision);
        return plan.result;
      }
      failed = plan.reads && r.reads ? { reads: plan.reads, results: r.reads } : undefined;
    }
    throw new RomanaError('unavailable', `${what}: too much contention, gave up after 200 attempts; try again`);
  }
}

/**
 * Serialises async work per key inside one process, so local callers do not fight over one CAS.
 * When a job fails because the store is unavailable, the jobs already waiting behind it fail with it
 * at once: otherwise, with a hung store, each would wait out its own deadline in turn and the last in
 * line would answer only after (queue length x deadline).
 */
const QUEUED = ' (it failed so for a request ahead of this one; try again)';
export class KeyedQueue {
  private tails = new Map<string, Promise<RomanaError | undefined>>();
  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve(undefined);
    const next = prev.then((down) => {
      if (down) throw down;
      return fn();
    });
    const tail = next.then(() => undefined, (e: unknown) => {
      if (!(e instanceof RomanaError) || e.kind !== 'unavailable') return undefined;
      return e.message.endsWith(QUEUED) ? e : new RomanaError('unavailable', e.message + QUEUED);
    });
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }
}
