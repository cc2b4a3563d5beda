// Embedded Store on SQLite (better-sqlite3), for single-node installs and unit tests.
//
// It mimics etcd's model closely so that code tested here behaves the same against etcd:
// - one store-wide revision, bumped once per transaction that changes something (a txn whose ops all
//   delete missing keys, or that has no ops, changes nothing and keeps the revision, as in etcd);
// - a compare on a missing key: `modRevision: 0` holds, any value compare fails (etcd cannot tell a
//   missing value from '' either, and fails it);
// - a txn may not touch one key twice (etcd: "duplicate key given in txn request");
// - keys sort by their UTF-8 bytes (SQLite's BINARY collation), as etcd's do;
// - an event log lets `watch` replay history; `compact(r)` drops history before revision r, and a watch
//   from before the compaction point fails with onError, as etcd's does.
//
// Watches are served from an in-process EventEmitter, so only writes made through this Store object
// (this process) are seen live. That is fine because the embedded store belongs to exactly one romanad
// process; anything else (CLI, agents) talks to romanad, never to the file. Multi-process setups use etcd.
//
// better-sqlite3 is synchronous. Each write runs inside one SQLite transaction (atomic, and nothing
// else in this process can interleave with it), and watch replay + subscription happen in the same
// synchronous step, so a watcher never sees a gap or a repeat between history and live events.

import type Database from 'better-sqlite3';
import { createRequire } from 'node:module';
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { RomanaError } from '../core/errors.js';
import { checkFromRevision, checkKey, compactedError, groupByRevision, validateReads, validateTxn, WatchDelivery } from './shared.js';
import type {
  Compare,
  KeyValue,
  ListResult,
  Op,
  Read,
  ReadResult,
  Store,
  TxnResult,
  Watch,
  WatchEvent,
  WatchHandlers,
} from './store.js';

export interface SqliteStoreOptions {
  /** Directory holding romana.db (created if missing). ':memory:' or undefined: an in-memory database. */
  dataDir?: string;
  /** How many revisions of history to keep for `watch` (default 10,000). */
  retainRevisions?: number;
}

const DEFAULT_RETAIN_REVISIONS = 10_000;
const SCHEMA_VERSION = 1;

interface KvRow {
  key: string;
  value: string;
  create_revision: number;
  mod_revision: number;
}
interface EventRow {
  revision: number;
  type: 'put' | 'delete';
  key: string;
  value: string | null;
}

export class SqliteStore implements Store {
  readonly backend = 'sqlite' as const;
  private readonly db: Database.Database;
  private readonly retain: number;
  private readonly live = new EventEmitter(); // 'commit' (events: WatchEvent[]) after each write commits
  private readonly watches = new Set<SqliteWatch>();
  private closed = false;
  private readonly stmt: ReturnType<SqliteStore['prepare']>;

  constructor(opts: SqliteStoreOptions = {}) {
    const inMemory = opts.dataDir === undefined || opts.dataDir === ':memory:';
    if (!inMemory) mkdirSync(opts.dataDir!, { recursive: true });
    const file = inMemory ? ':memory:' : join(opts.dataDir!, 'romana.db');
    try {
      // Loaded when used: a process on etcd or on romanad's API (an agent) does not carry it.
      const Sqlite = createRequire(import.meta.url)('better-sqlite3') as typeof Database;
      this.db = new Sqlite(file);
    } catch (err) {
      throw new RomanaError('unavailable', `sqlite store: cannot open ${file}: ${(err as Error).message}`);
    }
    this.retain = Math.max(1, opts.retainRevisions ?? DEFAULT_RETAIN_REVISIONS);
    if (!inMemory) {
      this.db.pragma('journal_mode = WAL');
      // FULL: an acknowledged write survives power loss (etcd fsyncs every commit too). IPAM must never
      // hand out an address twice because a claim evaporated.
      this.db.pragma('synchronous = FULL');
      this.db.pragma('busy_timeout = 5000');
    }
    this.migrate();
    this.stmt = this.prepare();
    this.live.setMaxListeners(0); // one listener per watch; many watches are normal
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new RomanaError('internal', `romana.db has schema version ${version}; this romanad knows ${SCHEMA_VERSION}`);
    }
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS kv (
        key TEXT PRIMARY KEY, value TEXT NOT NULL,
        create_revision INTEGER NOT NULL, mod_revision INTEGER NOT NULL
      ) WITHOUT ROWID;
      -- 'revision': the store revision; 'compact_revision': history before it is gone (etcd's meaning).
      CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
      INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', 0), ('compact_revision', 0);
      -- seq keeps a txn's events in op order.
      CREATE TABLE IF NOT EXISTS events (
        revision INTEGER NOT NULL, seq INTEGER NOT NULL,
        type TEXT NOT NULL, key TEXT NOT NULL, value TEXT,
        PRIMARY KEY (revision, seq)
      ) WITHOUT ROWID;
      PRAGMA user_version = ${SCHEMA_VERSION};
    `);
  }

  private prepare() {
    const db = this.db;
    return {
      get: db.prepare<[string], KvRow>('SELECT * FROM kv WHERE key = ?'),
      listFrom: db.prepare<[string], KvRow>('SELECT * FROM kv WHERE key >= ? ORDER BY key'),
      listRange: db.prepare<[string, string], KvRow>('SELECT * FROM kv WHERE key >= ? AND key < ? ORDER BY key'),
      upsert: db.prepare<[string, string, number, number]>(
        `INSERT INTO kv (key, value, create_revision, mod_revision) VALUES (?, ?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, mod_revision = excluded.mod_revision`,
      ),
      del: db.prepare<[string]>('DELETE FROM kv WHERE key = ?'),
      meta: db.prepare<[string], { value: number }>('SELECT value FROM meta WHERE name = ?'),
      setMeta: db.prepare<[number, string]>('UPDATE meta SET value = ? WHERE name = ?'),
      addEvent: db.prepare<[number, number, string, string, string | null]>(
        'INSERT INTO events (revision, seq, type, key, value) VALUES (?, ?, ?, ?, ?)',
      ),
      dropEvents: db.prepare<[number]>('DELETE FROM events WHERE revision < ?'),
      historyFrom: db.prepare<[number, string], EventRow>(
        'SELECT revision, type, key, value FROM events WHERE revision >= ? AND key >= ? ORDER BY revision, seq',
      ),
      historyRange: db.prepare<[number, string, string], EventRow>(
        'SELECT revision, type, key, value FROM events WHERE revision >= ? AND key >= ? AND key < ? ORDER BY revision, seq',
      ),
    };
  }

  async get(key: string): Promise<KeyValue | undefined> {
    checkKey(key);
    const row = this.guard(() => this.stmt.get.get(key));
    return row && toKeyValue(row);
  }

  async list(prefix: string): Promise<ListResult> {
    // One read transaction so the items and the revision belong to the same snapshot.
    return this.guard(() => this.db.transaction(() => ({ items: this.readLocked({ prefix }), revision: this.meta('revision') }))());
  }

  async put(key: string, value: string): Promise<number> {
    return (await this.txn([], [{ type: 'put', key, value }])).revision;
  }

  async delete(key: string): Promise<boolean> {
    checkKey(key);
    // Decide and delete in one transaction, so "existed" is exact even with concurrent writers.
    return this.write((events) => {
      const existed = this.stmt.get.get(key) !== undefined;
      if (existed) this.writeLocked([{ type: 'delete', key }], events);
      return existed;
    });
  }

  async read(reads: Read[]): Promise<ReadResult> {
    validateReads(reads);
    return this.guard(() => this.db.transaction(() => ({ results: reads.map((r) => this.readLocked(r)), revision: this.meta('revision') }))());
  }

  async txn(compares: Compare[], success: Op[], failureReads: Read[] = []): Promise<TxnResult> {
    validateTxn(compares, success);
    validateReads(failureReads);
    return this.write((events): TxnResult => {
      if (!compares.every((c) => this.holds(c))) {
        const revision = this.meta('revision');
        return failureReads.length ? { succeeded: false, revision, reads: failureReads.map((r) => this.readLocked(r)) } : { succeeded: false, revision };
      }
      return { succeeded: true, revision: this.writeLocked(success, events) };
    });
  }

  async revision(): Promise<number> {
    return this.guard(() => this.meta('revision'));
  }

  async watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<Watch> {
    return this.guard(() => this.watchNow(prefix, fromRevision, handlers));
  }

  private watchNow(prefix: string, fromRevision: number, handlers: WatchHandlers): Watch {
    // Everything below is synchronous: no write can slip between the history read and the subscription.
    const from = checkFromRevision(fromRevision);
    const watch = new SqliteWatch(this, prefix, from, handlers);
    const compactRevision = this.meta('compact_revision');
    if (from < compactRevision) {
      watch.delivery.fail(compactedError(prefix, from, `history before revision ${compactRevision} has been compacted`));
      return watch;
    }
    const end = prefixEnd(prefix);
    const rows = end === undefined ? this.stmt.historyFrom.all(from, prefix) : this.stmt.historyRange.all(from, prefix, end);
    for (const batch of groupByRevision(rows.map(toWatchEvent))) watch.delivery.push(batch);
    this.watches.add(watch);
    this.live.on('commit', watch.onCommit);
    return watch;
  }

  /** Drop watch history before `revision` (etcd's compact). Watches from earlier revisions then fail. */
  async compact(revision: number): Promise<void> {
    this.guard(() => this.db.transaction(() => this.compactLocked(Math.min(revision, this.meta('revision'))))());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of [...this.watches]) void w.close(); // also drops their undelivered events
    this.db.close();
  }

  /** @internal SqliteWatch calls this when its delivery ends. */
  detach(w: SqliteWatch): void {
    this.watches.delete(w);
    this.live.off('commit', w.onCommit);
  }

  // --- internals; the *Locked methods must run inside a db.transaction ---

  /**
   * Runs `fn` in one SQLite transaction; `fn` collects the events it causes. They are published only
   * after COMMIT succeeded, so no watcher ever sees rolled-back work. Watches merely queue them here
   * and deliver on a later microtask, so a handler never runs inside a write.
   */
  private write<T>(fn: (events: WatchEvent[]) => T): T {
    const events: WatchEvent[] = [];
    const result = this.guard(() => this.db.transaction(() => fn(events))());
    if (events.length > 0) this.live.emit('commit', events);
    return result;
  }

  /** Applies ops under the next revision, appending their events; returns the resulting store revision. */
  private writeLocked(ops: Op[], events: WatchEvent[]): number {
    const current = this.meta('revision');
    const rev = current + 1;
    const first = events.length;
    for (const op of ops) {
      const existing = this.stmt.get.get(op.key);
      if (op.type === 'put') {
        this.stmt.upsert.run(op.key, op.value, existing ? existing.create_revision : rev, rev);
        this.stmt.addEvent.run(rev, events.length - first, 'put', op.key, op.value);
        events.push({ type: 'put', key: op.key, value: op.value, revision: rev });
      } else if (existing) {
        this.stmt.del.run(op.key);
        this.stmt.addEvent.run(rev, events.length - first, 'delete', op.key, null);
        events.push({ type: 'delete', key: op.key, revision: rev });
      }
    }
    if (events.length === first) return current; // nothing changed: no new revision (etcd does the same)
    this.stmt.setMeta.run(rev, 'revision');
    // Keep the last `retain` revisions of history; dropping one revision per write keeps it cheap.
    this.compactLocked(rev - this.retain + 1);
    return rev;
  }

  private compactLocked(revision: number): void {
    if (revision <= this.meta('compact_revision')) return;
    this.stmt.dropEvents.run(revision);
    this.stmt.setMeta.run(revision, 'compact_revision');
  }

  private readLocked(r: Read): KeyValue[] {
    if ('key' in r) {
      const row = this.stmt.get.get(r.key);
      return row ? [toKeyValue(row)] : [];
    }
    const end = prefixEnd(r.prefix);
    return (end === undefined ? this.stmt.listFrom.all(r.prefix) : this.stmt.listRange.all(r.prefix, end)).map(toKeyValue);
  }

  private holds(c: Compare): boolean {
    const row = this.stmt.get.get(c.key);
    if ('modRevision' in c) return c.modRevision === 0 ? row === undefined : row?.mod_revision === c.modRevision;
    return row !== undefined && row.value === c.value;
  }

  private meta(name: 'revision' | 'compact_revision'): number {
    return this.stmt.meta.get(name)!.value;
  }

  /** Runs a database step, turning SQLite failures into RomanaErrors the API can map to a status. */
  private guard<T>(fn: () => T): T {
    if (this.closed) throw new RomanaError('unavailable', 'the sqlite store is closed');
    try {
      return fn();
    } catch (err) {
      if (err instanceof RomanaError) throw err;
      const code = String((err as { code?: unknown }).code ?? '');
      // Busy (another process holds the lock), disk full, I/O or read-only: the store can't take writes now.
      const transient = /^SQLITE_(BUSY|LOCKED|FULL|IOERR|READONLY|CANTOPEN)/.test(code);
      throw new RomanaError(transient ? 'unavailable' : 'internal', `sqlite store: ${(err as Error).message}`);
    }
  }
}

/** One watch: filters committed events by prefix and revision, and hands them to a WatchDelivery. */
class SqliteWatch implements Watch {
  readonly delivery: WatchDelivery;

  constructor(
    store: SqliteStore,
    private readonly prefix: string,
    private readonly from: number,
    handlers: WatchHandlers,
  ) {
    this.delivery = new WatchDelivery(`watch '${prefix}'`, handlers, () => store.detach(this));
  }

  readonly onCommit = (events: WatchEvent[]): void => {
    this.delivery.push(events.filter((e) => e.revision >= this.from && e.key.startsWith(this.prefix)));
  };

  async close(): Promise<void> {
    this.delivery.stop();
  }
}

function toKeyValue(row: KvRow): KeyValue {
  return { key: row.key, value: row.value, createRevision: row.create_revision, modRevision: row.mod_revision };
}

function toWatchEvent(row: EventRow): WatchEvent {
  return row.type === 'put'
    ? { type: 'put', key: row.key, value: row.value ?? '', revision: row.revision }
    : { type: 'delete', key: row.key, revision: row.revision };
}

/**
 * The smallest string greater than every string that starts with `prefix`, in code point order (which
 * is UTF-8 byte order, SQLite's and etcd's order); undefined when there is none (prefix '' or all
 * U+10FFFF). Lets a prefix scan use the primary key index as a range.
 */
export function prefixEnd(prefix: string): string | undefined {
  const cps = Array.from(prefix);
  while (cps.length > 0) {
    const last = cps.pop()!.codePointAt(0)!;
    if (last < 0x10ffff) {
      const next = last + 1 === 0xd800 ? 0xe000 : last + 1; // skip the surrogate block: not encodable
      cps.push(String.fromCodePoint(next));
      return cps.join('');
    }
  }
  return undefined;
}
