// Picks the Store backend from configuration: etcd when endpoints are given, else embedded SQLite.

import { readFileSync } from 'node:fs';
import { invalid } from '../core/errors.js';
import { EtcdStore } from './etcd.js';
import { SqliteStore } from './sqlite.js';
import type { Store, StoreOptions } from './store.js';

export interface OpenStoreOptions extends StoreOptions {
  /** etcd only: prefix for every key, so several installs or test runs can share one etcd. */
  namespace?: string;
  /** etcd only: deadline per call in ms (default 3000). */
  requestTimeoutMs?: number;
  /** etcd only: TLS files (PEM paths): CA, and client certificate and key for mutual TLS. */
  etcdTls?: { caFile?: string; certFile?: string; keyFile?: string };
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
      tls: etcdTls(opts.etcdTls),
    });
  }
  return new SqliteStore({ dataDir: opts.dataDir, retainRevisions: opts.retainRevisions });
}

function etcdTls(t: OpenStoreOptions['etcdTls']): { ca?: Buffer; cert?: Buffer; key?: Buffer } | undefined {
  if (!t || (!t.caFile && !t.certFile && !t.keyFile)) return undefined;
  if (Boolean(t.certFile) !== Boolean(t.keyFile)) throw invalid('--etcd-cert and --etcd-key: give both or neither');
  const read = (flag: string, f?: string) => {
    if (!f) return undefined;
    try {
      return readFileSync(f);
    } catch (e) {
      throw invalid(`${flag}: ${f} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  };
  return { ca: read('--etcd-ca', t.caFile), cert: read('--etcd-cert', t.certFile), key: read('--etcd-key', t.keyFile) };
}
