// The stand-in's storage, in memory: one global resourceVersion counter (as etcd's revision), objects
// per resource, an event history for watches and consistent paginated lists, and the watchers.
//
// Stored objects are never mutated: every write stores a new object, so lists, history and watch
// events can share them.
import { gone } from './errors.js';
import type { Obj } from './resources.js';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';
interface HistoryEvent { rv: number; res: string; key: string; type: EventType; obj: Obj; prev?: Obj }

export interface Watcher {
  res: string;
  /** Delivers one event; false when the client is gone. */
  send(type: EventType | 'BOOKMARK' | 'ERROR', obj: Obj): void;
  matches(obj: Obj): boolean;
  close(): void;
  /** Frozen watchers are sent nothing more (see freezeWatches). */
  frozen?: boolean;
}

export const objectKey = (o: Obj) => (o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name) as string;

export class ObjectStore {
  /** The resourceVersion of the latest write. */
  rv = 0;
  /** Watches and exact reads may start at this resourceVersion or later; older ones are 410 Gone. */
  compacted = 0;
  private readonly data = new Map<string, Map<string, Obj>>();
  private history: HistoryEvent[] = [];
  private readonly watchers = new Set<Watcher>();
  /** Watches refused with 410 Gone (their resourceVersion was older than the history). */
  expiredWatches = 0;

  constructor(private readonly historyLimit = 100_000) {}

  private table(res: string): Map<string, Obj> {
    let t = this.data.get(res);
    if (!t) this.data.set(res, (t = new Map()));
    return t;
  }

  get(res: string, key: string): Obj | undefined {
    return this.data.get(res)?.get(key);
  }

  /** Objects of a resource (in one namespace, or all), in key order, as of `atRv` (default: now). */
  list(res: string, namespace?: string, atRv?: number): Obj[] {
    let t: Map<string, Obj> = this.data.get(res) ?? new Map();
    if (atRv !== undefined && atRv < this.rv) {
      if (atRv < this.compacted) throw gone(`too old resource version: ${atRv} (${this.compacted})`);
      // Undo the writes after atRv, newest first.
      t = new Map(t);
      for (let i = this.history.length - 1; i >= 0 && this.history[i].rv > atRv; i--) {
        const e = this.history[i];
        if (e.res !== res) continue;
        if (e.prev) t.set(e.key, e.prev);
        else t.delete(e.key);
      }
    }
    const items = namespace === undefined ? [...t.values()] : [...t.values()].filter((o) => o.metadata.namespace === namespace);
    return items.sort((a, b) => (objectKey(a) < objectKey(b) ? -1 : objectKey(a) > objectKey(b) ? 1 : 0));
  }

  /** Stores a new version (created or modified) and returns it with its resourceVersion. */
  put(res: string, obj: Obj): Obj {
    const key = objectKey(obj);
    const prev = this.table(res).get(key);
    const rv = ++this.rv;
    const stored = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(rv) } };
    this.table(res).set(key, stored);
    this.record({ rv, res, key, type: prev ? 'MODIFIED' : 'ADDED', obj: stored, prev });
    return stored;
  }

  remove(res: string, key: string): Obj | undefined {
    const prev = this.data.get(res)?.get(key);
    if (!prev) return undefined;
    const rv = ++this.rv;
    this.data.get(res)!.delete(key);
    // A deleted object is announced with the resourceVersion of its deletion.
    const last = { ...prev, metadata: { ...prev.metadata, resourceVersion: String(rv) } };
    this.record({ rv, res, key, type: 'DELETED', obj: last, prev });
    return last;
  }

  private record(e: HistoryEvent): void {
    this.history.push(e);
    if (this.history.length > this.historyLimit) {
      const drop = this.history.length - this.historyLimit;
      this.compacted = this.history[drop - 1].rv;
      this.history = this.history.slice(drop);
    }
    for (const w of this.watchers) if (w.res === e.res && !w.frozen) deliver(w, e.type, e.obj, e.prev);
  }

  /**
   * Starts a watch from `fromRv`: the changes after it, then live ones. Without a resourceVersion
   * (or "0") the current objects come first as ADDED. A resourceVersion older than the history is
   * answered with an ERROR event carrying 410 Expired, as the real server does.
   */
  watch(w: Watcher, fromRv: number | undefined, namespace?: string): void {
    if (fromRv === undefined || fromRv === 0) {
      for (const o of this.list(w.res, namespace)) if (w.matches(o)) w.send('ADDED', o);
    } else if (fromRv < this.compacted) {
      this.expiredWatches++;
      w.send('ERROR', gone(`too old resource version: ${fromRv} (${this.compacted})`).toStatus());
      w.close();
      return;
    } else {
      for (const e of this.history) if (e.rv > fromRv && e.res === w.res) deliver(w, e.type, e.obj, e.prev);
    }
    this.watchers.add(w);
  }

  unwatch(w: Watcher): void {
    this.watchers.delete(w);
  }

  /** Forgets the history up to `upTo` (etcd compaction at a revision): watches and exact reads from before it get 410. */
  compact(upTo = this.rv): void {
    this.compacted = Math.max(this.compacted, Math.min(upTo, this.rv));
    this.history = this.history.filter((e) => e.rv > this.compacted);
  }

  /** Stops sending to the current watchers (as if the server's watch cache stalled); see closeWatches. */
  freezeWatches(): void {
    for (const w of this.watchers) w.frozen = true;
  }

  /** Ends every open watch (as a restarting API server does); clients reconnect from their last resourceVersion. */
  closeWatches(): void {
    for (const w of [...this.watchers]) {
      this.watchers.delete(w);
      w.close();
    }
  }

  get watcherCount(): number {
    return this.watchers.size;
  }
}

/** Selector-aware delivery: an object that starts or stops matching is ADDED or DELETED for this watcher. */
function deliver(w: Watcher, type: EventType, obj: Obj, prev?: Obj): void {
  const now = w.matches(obj);
  const before = prev !== undefined && w.matches(prev);
  if (type === 'ADDED') {
    if (now) w.send('ADDED', obj);
  } else if (type === 'DELETED') {
    if (before || now) w.send('DELETED', obj);
  } else if (now && before) w.send('MODIFIED', obj);
  else if (now) w.send('ADDED', obj);
  else if (before) w.send('DELETED', obj);
}
