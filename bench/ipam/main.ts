// IPAM benchmark: allocations (and releases) through romanad's control layer on the embedded store and
// on a real etcd, next to the raw etcd get + single-key compare-and-swap rate measured in the same run;
// and the allocation rate with 1,000 vs 100,000 existing addresses, which must stay flat (O(1) store
// work), each beside the raw rate on a store of that size.
import { Control } from '../../src/control/control.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';
import { startEtcd, etcdClient } from '../../test/helpers/etcd.js';
import { fmt, measure, type RunStats } from '../lib/stats.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

const HOSTS = 100;
const N = Number(process.env.BENCH_IPAM_N ?? 10_000);
const BIG = Number(process.env.BENCH_IPAM_BIG ?? 100_000);
const CONCURRENCY = 32;

async function setup(store: Store): Promise<Control> {
  const c = new Control(store);
  await c.topology.replace({
    networks: [{ name: 'n', cidr: '10.0.0.0/8', block_mask: 29 }],
    topologies: [{ networks: ['n'], map: Array.from({ length: 4 }, () => ({ groups: [] })) }],
  });
  for (let h = 0; h < HOSTS; h++) await c.topology.addHost({ name: `host-${h}`, ip: `192.168.${h >> 8}.${h & 255}` });
  return c;
}

const allocator = (c: Control, prefix: string, tenant = 't') => (i: number) =>
  c.ipam.allocate({ name: `${prefix}-${i}`, host: `host-${i % HOSTS}`, tenant: `${tenant}${i % 10}`, segment: `s${(i >> 4) % 2}` }).then((a) => {
    if (!a.created) throw new Error(`${prefix}-${i} existed already`);
  });

const row = (what: string, s: RunStats) => `| ${what} | ${s.count} | ${fmt(s.perSecond, 0)} | ${fmt(s.p50ms, 2)} | ${fmt(s.p99ms, 2)} |`;

async function main() {
  const lines: string[] = ['| run | operations | per second | p50 ms | p99 ms |', '|---|---|---|---|---|'];
  const print = (l: string) => { lines.push(l); console.log(l); };
  console.log(`IPAM: ${N} allocations over ${HOSTS} hosts, ${CONCURRENCY} in flight; ${cpus().length} CPUs, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);

  // Embedded store.
  const dir = mkdtempSync(join(tmpdir(), 'bench-ipam-'));
  const sq = await openStore({ dataDir: dir });
  const cs = await setup(sq);
  print(row('allocate, SQLite', await measure(N, CONCURRENCY, allocator(cs, 'a'))));

  // etcd, and the raw CAS baseline on the same server.
  const etcd = await startEtcd();
  try {
    const raw = etcdClient(etcd.endpoint);
    const rawCas = await measure(N, CONCURRENCY, rawCasOp(raw));
    print(row('raw etcd get + CAS txn (baseline)', rawCas));
    const es = await openStore({ etcdEndpoints: [etcd.endpoint], namespace: '/bench' });
    const ce = await setup(es);
    const ea = await measure(N, CONCURRENCY, allocator(ce, 'a'));
    print(row('allocate, etcd', ea));
    const er = await measure(N, CONCURRENCY, (i) => ce.ipam.release(`a-${i}`));
    print(row('release by name, etcd', er));
    console.log(`etcd: allocation ${fmt(ea.perSecond / rawCas.perSecond, 2)}x, release ${fmt(er.perSecond / rawCas.perSecond, 2)}x the raw get+CAS rate`);

    // Flatness: rate after 1,000 existing addresses vs after BIG existing addresses. On etcd the raw
    // get+CAS is measured again beside each, so that what the store itself loses at size shows.
    for (const name of ['SQLite', 'etcd'] as const) {
      for (const [label, existing] of [['small', 1000], ['big', BIG]] as const) {
        const c = await freshWith(name === 'etcd' ? { etcdEndpoints: [etcd.endpoint], namespace: `/bench-${label}` } : { dataDir: mkdtempSync(join(tmpdir(), 'bench-ipam-')) }, existing);
        if (name === 'etcd') print(row(`raw etcd get + CAS txn, ${existing.toLocaleString('en')} existing (baseline)`, await measure(2000, CONCURRENCY, rawCasOp(raw))));
        print(row(`allocate 2,000, ${name}, ${existing.toLocaleString('en')} existing`, await measure(2000, CONCURRENCY, allocator(c, 'm'))));
        await c.store.close();
      }
    }
    raw.close();
    await es.close();
  } finally {
    await sq.close();
    rmSync(dir, { recursive: true, force: true });
    await etcd.stop();
  }
  console.log(`\nload average at the end: ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n` + lines.join('\n'));
}

/**
 * A single-key CAS, as an allocation's transaction is at its core; one key per worker avoids
 * measuring contention instead of etcd.
 */
const rawCasOp = (raw: ReturnType<typeof etcdClient>) => async (i: number) => {
  const key = `/bench/cas-${i % CONCURRENCY}`;
  const cur = await raw.get(key).exec();
  const rev = cur.kvs[0]?.mod_revision ?? '0';
  await raw.if(key, 'Mod', '==', Number(rev)).then(raw.put(key).value(String(i))).commit();
};

async function freshWith(opts: Parameters<typeof openStore>[0], existing: number): Promise<Control> {
  const c = await setup(await openStore(opts));
  // The existing addresses belong to other tenants, on the same hosts and groups: what grows is the
  // cluster, not the blocks of the owners being measured.
  await measure(existing, 64, allocator(c, 'pre', 'pre'));
  // A new Control, so the measured allocations start with romanad's cache as cold as after a restart.
  return new Control(c.store);
}

await main();
