// A layout network under concurrency: two romanad processes on one real etcd, hundreds of concurrent
// allocations for new tenants and segments on four hosts, then concurrent releases. Tenant and segment
// IDs are handed out and given back with compare-and-swap: every address must decode to its own
// host's ID, one tenant ID per tenant and one segment ID per tenant x segment, and once everything is
// released no ID record is left and a new tenant gets ID 1 again.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeAddress, type LayoutNetwork } from '../../src/core/ipam/address-layout.js';
import { parseCidr, parseIp } from '../../src/core/net/ipv4.js';
import { type EtcdServer, startEtcd } from '../helpers/etcd.js';
import { type Romanad, startRomanad } from '../helpers/romanad.js';

const N = 600;
const HOSTS = 4, TENANTS = 6, SEGMENTS = 3;
const NET: LayoutNetwork = { name: 'classic', cidr: parseCidr('10.0.0.0/8'), layout: { host_bits: 8, tenant_bits: 8, segment_bits: 4, endpoint_bits: 4 } };

describe('layout network: concurrent allocation and release through two romanads on one etcd', () => {
  let etcd: EtcdServer;
  let a: Romanad;
  let b: Romanad;
  const post = (via: Romanad, path: string, body: unknown) =>
    fetch(`${via.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  before(async () => {
    etcd = await startEtcd();
    const prefix = '/layout-concurrency';
    [a, b] = await Promise.all([startRomanad({ etcdEndpoints: etcd.endpoint, etcdPrefix: prefix }), startRomanad({ etcdEndpoints: etcd.endpoint, etcdPrefix: prefix })]);
    await a.api.post('/topology', {
      networks: [{ name: 'classic', cidr: '10.0.0.0/8', layout: NET.layout }],
      topologies: [{ networks: ['classic'], map: [{ name: 'r1', groups: [] }, { name: 'r2', groups: [] }] }],
    });
    for (let i = 0; i < HOSTS; i++) await (i % 2 ? a : b).api.post('/hosts', { name: `h${i}`, ip: `192.168.1.${i + 1}` });
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await etcd?.stop();
  });

  it(`${N} allocations: distinct addresses made of consistent IDs; released, every ID goes back`, async () => {
    const hostIds = new Map((await a.api.get<{ hosts: { name: string; id: number }[] }>('/hosts')).hosts.map((h) => [h.name, h.id]));
    assert.deepEqual([...hostIds.values()].sort(), [1, 2, 3, 4]);
    const results = await Promise.all(Array.from({ length: N }, async (_, i) => {
      const body = { name: `ep-${i}`, host: `h${i % HOSTS}`, tenant: `t${Math.floor(i / HOSTS) % TENANTS}`, segment: `s${Math.floor(i / (HOSTS * TENANTS)) % SEGMENTS}` };
      const res = await post(i % 2 ? a : b, '/address', body);
      return { status: res.status, req: body, body: (await res.json()) as { ip: string; message?: string } };
    }));
    assert.deepEqual(results.filter((r) => r.status !== 201).slice(0, 3), []);
    assert.equal(new Set(results.map((r) => r.body.ip)).size, N, 'distinct addresses');
    const tenantId = new Map<string, Set<number>>();
    const segmentId = new Map<string, Set<number>>();
    for (const r of results) {
      const ids = decodeAddress(NET, parseIp(r.body.ip));
      assert.equal(ids.host, hostIds.get(r.req.host), `${r.body.ip} lies in ${r.req.host}'s CIDR`);
      assert.ok(ids.endpoint >= 1);
      tenantId.set(r.req.tenant, (tenantId.get(r.req.tenant) ?? new Set()).add(ids.tenant));
      const sk = `${r.req.tenant}/${r.req.segment}`;
      segmentId.set(sk, (segmentId.get(sk) ?? new Set()).add(ids.segment));
    }
    assert.ok([...tenantId.values()].every((s) => s.size === 1), 'one tenant ID per tenant, on every host');
    assert.deepEqual([...tenantId.values()].map((s) => [...s][0]).sort((x, y) => x - y), [1, 2, 3, 4, 5, 6], 'tenant IDs 1-6, none skipped');
    assert.ok([...segmentId.values()].every((s) => s.size === 1), 'one segment ID per tenant x segment');
    for (let t = 0; t < TENANTS; t++) {
      const ids = [...segmentId].filter(([k]) => k.startsWith(`t${t}/`)).map(([, s]) => [...s][0]).sort();
      assert.deepEqual(ids, [1, 2, 3], `segments of t${t} are 1-3`);
    }
    const check = await a.api.get<{ findings: unknown[] }>('/ipam/check');
    assert.deepEqual(check.findings, []);

    const released = await Promise.all(results.map(async (r, i) => (await fetch(`${(i % 2 ? b : a).url}/address?addressName=ep-${i}`, { method: 'DELETE' })).status));
    assert.ok(released.every((s) => s === 200), JSON.stringify(released.filter((s) => s !== 200)));
    const left = await a.api.get<{ items: unknown[] }>(`/store/list?prefix=${encodeURIComponent('/romana/layout/')}`);
    assert.deepEqual(left.items, [], 'no tenant or segment ID record is left');
    assert.deepEqual((await a.api.get<{ blocks: unknown[] }>('/blocks')).blocks, []);
    const again = (await (await post(b, '/address', { name: 'late', host: 'h3', tenant: 'fresh' })).json()) as { ip: string };
    assert.deepEqual(decodeAddress(NET, parseIp(again.ip)), { host: hostIds.get('h3')!, tenant: 1, segment: 1, endpoint: 1 });
  });
});
