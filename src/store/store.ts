// The datastore contract. Both backends (embedded SQLite and etcd v3) implement exactly this, and one
// conformance suite (test/store/conformance.ts) runs against both.
//
// The model is etcd's: a flat, ordered key space of UTF-8 strings; every successful write bumps one
// store-wide revision; each key remembers the revision that created it and that last changed it.
// All multi-key changes go through `txn`, a compare-and-swap transaction: if every compare holds, all
// `success` ops are applied atomically under one new revision, else nothing is written.

export interface KeyValue {
  key: string;
  value: string;
  /** Revision of the last write to this key. */
  modRevision: number;
  /** Revision that created this key (since its last deletion). */
  createRevision: number;
}

/**
 * A compare on one key. `modRevision: 0` means "the key must not exist"; any other number means "the
 * key must exist and have been last written at exactly that revision". `value` compares the content.
 */
export type Compare =
  | { key: string; modRevision: number }
  | { key: string; value: string };

export type Op =
  | { type: 'put'; key: string; value: string }
  | { type: 'delete'; key: string };

export interface TxnResult {
  succeeded: boolean;
  /** The store revision after the transaction (unchanged when it failed or wrote nothing). */
  revision: number;
  /** When the compares failed and the txn asked for reads on failure: their results, in order. */
  reads?: KeyValue[][];
}

/** One read of a batch: one key, or every key under a prefix. */
export type Read = { key: string } | { prefix: string };

export interface ReadResult {
  /** One list per read, in order: a key's read holds its one KeyValue or nothing; a prefix's is sorted by key. */
  results: KeyValue[][];
  /** Store revision every result was read at. */
  revision: number;
}

export interface ListResult {
  items: KeyValue[]; // sorted by key
  revision: number; // store revision the listing was read at
}

export interface WatchEvent {
  type: 'put' | 'delete';
  key: string;
  value?: string; // absent on delete
  revision: number;
}

export interface Watch {
  close(): Promise<void>;
}

export interface WatchHandlers {
  /** Called in revision order; all events of one transaction are delivered before the next one's. */
  onEvents(events: WatchEvent[]): void;
  /**
   * The watch broke (store unreachable, or `fromRevision` was compacted away). No further events are
   * delivered; the watcher should list again and start a new watch from that listing's revision + 1.
   */
  onError?(err: Error): void;
}

export interface Store {
  readonly backend: 'sqlite' | 'etcd';
  get(key: string): Promise<KeyValue | undefined>;
  /** Every key starting with `prefix`, sorted by key. */
  list(prefix: string): Promise<ListResult>;
  /** Unconditional put; returns the new revision. */
  put(key: string, value: string): Promise<number>;
  /** Unconditional delete; returns whether the key existed. */
  delete(key: string): Promise<boolean>;
  /**
   * Several reads at one revision, in one round trip: what a decision needs before its txn.
   */
  read(reads: Read[]): Promise<ReadResult>;
  /**
   * `failureReads`, when the compares fail, are read in the same round trip (at the revision the
   * compares saw) and returned in `reads`: a writer that guards cached records with compares learns
   * what changed without another round trip.
   */
  txn(compares: Compare[], success: Op[], failureReads?: Read[]): Promise<TxnResult>;
  /** Current store revision (0 on a new store). */
  revision(): Promise<number>;
  /**
   * Events for keys under `prefix` with revision >= `fromRevision` (use listing revision + 1 to
   * continue from a listing without gaps or repeats).
   */
  watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<Watch>;
  close(): Promise<void>;
}

export interface StoreOptions {
  dataDir?: string; // SQLite: directory holding romana.db
  etcdEndpoints?: string[]; // etcd: http(s)://host:port
}

/** The read side of a store: what a host agent needs (from etcd directly, or through romanad). */
export type StoreReader = Pick<Store, 'get' | 'list' | 'watch' | 'revision' | 'close'>;
