// Picks the Store backend from configuration: etcd when endpoints are given, else embedded SQLite.

import { EtcdStore } from './etcd.js';
import { SqliteStore } from './sqlite.js';
import type { Store, StoreOptions } from './store.js';

export interface OpenStoreOptions extends StoreOptions {
  /** etcd only: prefix for every key, so several installs or test runs can share one etcd. */
  namespace?: string;
  /** etcd only: deadline per call in ms (default 3000). */
  requestTimeoutMs?: number;
  /** SQLite only: revisions of watch history to keep (default 10,000). */
  retainRevisions?: number;
}

/**
 * Opens the configured store. SQLite uses `<dataDir>/romana.db` (the directory is created), or memory
 * when dataDir is undefined or ':memory:'. Opening etcd does not contact it: the first call does, and
 * fails with kind 'unavailable' if etcd cannot be reached within the deadline.
 */
export async function openStore(opts: OpenStoreOptions): Promise<Store> {
  if (opts.etcdEndpoints && opts.etcdEndpoints.length > 0) {
    return new EtcdStore({
      endpoints: opts.etcdEndpoints,
      namespace: opts.namespace,
      requestTimeoutMs: opts.requestTimeoutMs,
    });
  }
  return new SqliteStore({ dataDir: opts.dataDir, retainRevisions: opts.retainRevisions });
}
