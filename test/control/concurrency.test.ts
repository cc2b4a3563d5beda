// Two romanad processes on one real etcd, 1,000 concurrent allocations spread over them: every
// allocation gets a distinct IP and none is lost.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type EtcdServer, startEtcd } from '../helpers/etcd.js';
import { type Romanad, startRomanad } from '../helpers/romanad.js';

const N = 1000;
const HOSTS = 4;

describe('concurrent allocation through two romanads on one etcd', () => {
  let etcd: EtcdServer;
  let a: Romanad;
  let b: Romanad;
  before(async () => {
    etcd = await startEtcd();
    const prefix = '/concurrency';
    [a, b] = await Promise.all([startRomanad({ etcdEndpoints: etcd.endpoint, etcdPrefix: prefix }), startRomanad({ etcdEndpoints: etcd.endpoint, etcdPrefix: prefix })]);
    await a.api.post('/topology', {
      networks: [{ name: 'n', cidr: '10.0.0.0/16', block_mask: 28 }],
      topologies: [{ networks: ['n'], map: [{ groups: [] }, { groups: [] }] }],
    });
    for (let i = 0; i < HOSTS; i++) await (i % 2 ? a : b).api.post('/hosts', { name: `h${i}`, ip: `192.168.1.${i + 1}` });
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await etcd?.stop();
  });

  it(`${N} allocations: distinct IPs, none lost, counts agree on both servers`, async () => {
    const results = await Promise.all(Array.from({ length: N }, async (_, i) => {
      const via = i % 2 ? a : b;
      const body = { name: `pod-${i}`, host: `h${i % HOSTS}`, tenant: `t${i % 3}`, segment: `s${i % 2}` };
      const res = await fetch(`${via.url}/address`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as { name: string; ip: string; host: string; block: string } };
    }));
    const failed = results.filter((r) => r.status !== 201);
    assert.equal(failed.length, 0, `failed: ${JSON.stringify(failed.slice(0, 3))}`);
    const ips = results.map((r) => r.body.ip);
    assert.equal(new Set(ips).size, N, 'every allocation got a distinct IP');
    for (const srv of [a, b]) {
      const listed = (await srv.api.get<{ addresses: { name: string; ip: string }[] }>('/addresses')).addresses;
      assert.equal(listed.length, N);
      const byName = new Map(listed.map((x) => [x.name, x.ip]));
      for (const r of results) assert.equal(byName.get(r.body.name), r.body.ip, `${r.body.name} is stored with the IP the client saw`);
      const blocks = await srv.api.get<{ revision: number; blocks: { cidr: string; host: string; allocated_ip_count: number }[] }>('/blocks');
      assert.equal(blocks.blocks.reduce((s, x) => s + x.allocated_ip_count, 0), N);
      assert.equal(blocks.revision, N);
      assert.equal(new Set(blocks.blocks.map((x) => x.cidr)).size, blocks.blocks.length, 'no block is listed twice');
    }
    // Every address lies in a block of its own host and owner.
    const blocks = (await a.api.get<{ blocks: { cidr: string; host: string }[] }>('/blocks')).blocks;
    const blockHost = new Map(blocks.map((x) => [x.cidr, x.host]));
    for (const r of results) assert.equal(blockHost.get(r.body.block), r.body.host);
  });
});
