// romanad's copy of the few records an allocation reads (hosts, blackouts, group carving states and
// owners' blocks), so that the usual allocation's only round trip to the store is its transaction.
//
// The copy is never trusted on its own. Every record a decision uses is guarded by a compare on the
// modRevision it was read at (an absent one by "still absent"), and a transaction whose compares fail
// brings back the current records in the same round trip (failure reads), which replace these. Our own
// committed writes are applied here as they commit. Writes by others (another romanad) make a compare
// fail once, then the copy is current again.
import type { KeyValue, Op, Read } from '../store/store.js';

const byKey = (a: KeyValue, b: KeyValue) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
const dirOf = (key: string) => key.slice(0, key.lastIndexOf('/') + 1);

export class RecordCache {
  /** Single keys: the record, or null when known to be absent. */
  private readonly keys = new Map<string, KeyValue | null>();
  /** Directories (prefixes ending in '/') whose every direct child is known. */
  private readonly dirs = new Map<string, Map<string, KeyValue>>();
  private entries = 0;

  /** `max` bounds the records kept; past it the copy starts over (it only costs reads). */
  constructor(private readonly max = 100_000) {}

  /** undefined: not known; null: known to be absent. */
  get(key: string): KeyValue | null | undefined {
    return this.keys.get(key);
  }

  /** The children of a directory, sorted by key; undefined when not known. */
  list(dir: string): KeyValue[] | undefined {
    const d = this.dirs.get(dir);
    return d && [...d.values()].sort(byKey);
  }

  /** Results of reads (of single keys, or of directories), as one store snapshot returned them. */
  learn(reads: Read[], results: KeyValue[][]): void {
    reads.forEach((r, i) => {
      if ('key' in r) {
        if (!this.keys.has(r.key)) this.entries++;
        this.keys.set(r.key, results[i][0] ?? null);
      } else {
        this.entries += results[i].length + 1;
        this.dirs.set(r.prefix, new Map(results[i].map((kv) => [kv.key, kv])));
      }
    });
    if (this.entries > this.max) this.clear();
  }

  forget(reads: Read[]): void {
    for (const r of reads) {
      if ('key' in r) this.keys.delete(r.key);
      else this.dirs.delete(r.prefix);
    }
  }

  /** Our own transaction committed `ops` at `revision`: known records and directories follow it. */
  applied(ops: Op[], revision: number): void {
    for (const op of ops) {
      const dir = this.dirs.get(dirOf(op.key));
      const known = this.keys.has(op.key);
      if (!dir && !known) continue;
      const prev = (known ? this.keys.get(op.key) : dir!.get(op.key)) ?? undefined;
      const kv = op.type === 'put' ? { key: op.key, value: op.value, modRevision: revision, createRevision: prev?.createRevision ?? revision } : null;
      if (known) this.keys.set(op.key, kv);
      if (dir) {
        if (kv) {
          if (!dir.has(op.key)) this.entries++;
          dir.set(op.key, kv);
        } else dir.delete(op.key);
      }
    }
    if (this.entries > this.max) this.clear();
  }

  clear(): void {
    this.keys.clear();
    this.dirs.clear();
    this.entries = 0;
  }
}
