// Baselines measured in the same run as the load: what the store itself does without romanad, and
// what an HTTP round trip through romanad costs without the store.
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ApiClient } from '../../src/cli/client.js';
import { etcdClient } from '../../test/helpers/etcd.js';
import { type OpStats, Recorder, runFor } from './record.js';

/**
 * A get plus a single-key compare-and-swap transaction, one key per worker (an allocation's
 * transaction is a CAS at its core; separate keys measure etcd, not contention).
 */
export async function rawEtcdCas(endpoint: string, seconds: number, workers: number): Promise<OpStats> {
  const raw = etcdClient(endpoint);
  try {
    return await runFor(seconds, workers, async (w, i) => {
      const key = `/baseline/cas-${w}`;
      const cur = await raw.get(key).exec();
      const rev = Number(cur.kvs[0]?.mod_revision ?? 0);
      const r = await raw.if(key, 'Mod', '==', rev).then(raw.put(key).value(String(i))).commit();
      if (!r.succeeded) throw new Error(`raw etcd CAS on ${key} lost to nobody: revision ${rev}`);
    });
  } finally {
    raw.close();
  }
}

/**
 * One-row read-then-upsert transactions on better-sqlite3 with romanad's settings (WAL,
 * synchronous=FULL, a WITHOUT ROWID kv table), back to back: SQLite runs one writer at a time and
 * romanad's store is synchronous in its one thread, so there is no concurrency to match.
 */
export function rawSqlite(seconds: number, keys: number): OpStats {
  const dir = mkdtempSync(join(tmpdir(), 'bench-load-sqlite-'));
  const db = new Database(join(dir, 'raw.db'));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec('CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, mod_revision INTEGER NOT NULL) WITHOUT ROWID');
    const get = db.prepare<[string], { mod_revision: number }>('SELECT mod_revision FROM kv WHERE key = ?');
    const put = db.prepare('INSERT INTO kv (key, value, mod_revision) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, mod_revision = excluded.mod_revision');
    const txn = db.transaction((key: string, i: number) => {
      const rev = get.get(key)?.mod_revision ?? 0;
      put.run(key, JSON.stringify({ i, rev }), rev + 1);
    });
    const rec = new Recorder();
    const t0 = performance.now();
    const end = t0 + seconds * 1000;
    for (let i = 0; performance.now() < end; i++) {
      const s = performance.now();
      txn(`/baseline/row-${i % keys}`, i);
      rec.push('op', performance.now() - s);
    }
    return rec.stats('op', (performance.now() - t0) / 1000);
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** GET /healthz with a token, through the same client: romanad's HTTP, auth and limiter, no store. */
export function httpFloor(api: ApiClient, seconds: number, workers: number): Promise<OpStats> {
  return runFor(seconds, workers, () => api.get('/healthz'));
}
