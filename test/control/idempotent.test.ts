// POST /address with an Idempotency-Key: a retry of the same name, host and owner answers the existing
// record, and concurrent identical requests make one address, through one romanad and through two on
// one real etcd. Also: the round trips an allocation and a release make to the store (the allocation
// cache sits behind compares), and that a cache made stale by another romanad never hands out a
// wrong address.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Control } from '../../src/control/control.js';
import { openStore } from '../../src/store/open.js';
import type { Compare, Op, Read, Store } from '../../src/store/store.js';
import { type EtcdServer, startEtcd } from '../helpers/etcd.js';
import { type Romanad, startRomanad } from '../helpers/romanad.js';

const TOPOLOGY = {
  networks: [{ name: 'n', cidr: '10.0.0.0/16', block_mask: 29 }],
  topologies: [{ networks: ['n'], map: [{ groups: [] }, { groups: [] }] }],
};

interface Answer { status: number; body: { ip?: string; name?: string; host?: string; error?: string; message?: string } }
async function post(url: string, body: object, key?: string): Promise<Answer> {
  const res = await fetch(`${url}/address`, {
    method: 'POST', body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
  });
  return { status: res.status, body: (await res.json()) as Answer['body'] };
}
async function addresses(url: string): Promise<{ name: string; ip: string }[]> {
  return ((await (await fetch(`${url}/addresses`)).json()) as { addresses: { name: string; ip: string }[] }).addresses;
}

describe('idempotent POST /address', () => {
  let etcd: EtcdServer;
  let a: Romanad;
  let b: Romanad;
  before(async () => {
    etcd = await startEtcd();
    [a, b] = await Promise.all([
      startRomanad({ etcdEndpoints: etcd.endpoint, etcdPrefix: '/idem' }), startRomanad({ etcdEndpoints: etcd.endpoint, etcdPrefix: '/idem' }),
    ]);
    await a.api.post('/topology', TOPOLOGY);
    await a.api.post('/hosts', { name: 'h1', ip: '192.168.1.1' });
    await a.api.post('/hosts', { name: 'h2', ip: '192.168.1.2' });
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await etcd?.stop();
  });

  it('a retry of the same name, host and owner answers the existing record; anything else is exists', async () => {
    const req = { name: 'retry', host: 'h1', tenant: 't', segment: 's' };
    const first = await post(a.url, req, 'k1');
    assert.equal(first.status, 201, JSON.stringify(first.body));
    for (const via of [a, b]) {
      const again = await post(via.url, { ...req, attributes: { any: 'thing' } }, 'k1');
      assert.equal(again.status, 200);
      assert.deepEqual(again.body, first.body, 'the record as made the first time');
    }
    const plain = await post(a.url, req);
    assert.equal(plain.status, 409, 'without the header a reused name is exists');
    assert.equal(plain.body.error, 'exists');
    for (const other of [{ host: 'h2' }, { tenant: 'u' }, { segment: 'x' }]) {
      const r = await post(b.url, { ...req, ...other }, 'k1');
      assert.equal(r.status, 409, `${JSON.stringify(other)}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error, 'exists');
      assert.match(r.body.message!, /already exists \(10\.0\.\d+\.\d+ on host 'h1' for t:s\)/);
    }
    assert.equal((await addresses(a.url)).filter((x) => x.name === 'retry').length, 1);
  });

  it('concurrent identical requests make one address, through one romanad and through two', async () => {
    for (const [label, vias] of [['one romanad', [a, a, a, a]], ['two romanads', [a, b, a, b, a, b]]] as const) {
      const req = { name: `same-${vias.length}`, host: 'h2', tenant: 't', segment: 'c' };
      const answers = await Promise.all(vias.map((v) => post(v.url, req, 'k')));
      // One request creates the address (201); every other one answers that record (200).
      assert.deepEqual(answers.map((x) => x.status).sort(), [201, ...vias.slice(1).map(() => 200)].sort(), `${label}: ${JSON.stringify(answers)}`);
      assert.equal(new Set(answers.map((x) => x.body.ip)).size, 1, `${label}: every answer names the one address`);
      const held = (await addresses(a.url)).filter((x) => x.name === req.name);
      assert.deepEqual(held.map((x) => x.ip), [answers[0].body.ip], `${label}: one address stored`);
    }
    const blocks = await a.api.get<{ blocks: { host: string; segment: string; allocated_ip_count: number }[] }>('/blocks?host=h2');
    assert.equal(blocks.blocks.filter((x) => x.segment === 'c').reduce((n, x) => n + x.allocated_ip_count, 0), 2, 'one slot per address');
  });

  it("another romanad's release and allocation are seen through the compares: lowest free, never twice", async () => {
    const owner = { host: 'h1', tenant: 'lo', segment: 'w' };
    const ips: string[] = [];
    for (let i = 0; i < 10; i++) ips.push((await a.api.post<{ ip: string }>('/address', { name: `lo-${i}`, ...owner })).ip); // a's cache now holds the owner's blocks
    await b.api.del(`/address?addressName=lo-3`); // b frees a slot in the first block
    const next = await a.api.post<{ ip: string }>('/address', { name: 'lo-next', ...owner });
    assert.equal(next.ip, ips[3], "a's stale copy of the block is caught by its compare; the freed address is the lowest");
    await b.api.post('/address', { name: 'lo-b', ...owner }); // b takes the next one; a does not know
    const after = await a.api.post<{ ip: string }>('/address', { name: 'lo-after', ...owner });
    const all = (await addresses(a.url)).filter((x) => x.name.startsWith('lo-'));
    assert.equal(new Set(all.map((x) => x.ip)).size, all.length, 'no IP twice');
    assert.ok(all.some((x) => x.ip === after.ip && x.name === 'lo-after'));
  });
});

/** A store that counts the calls that would each be one round trip to etcd. */
function counting(store: Store): { store: Store; calls: string[] } {
  const calls: string[] = [];
  const wrapped: Store = Object.create(store);
  wrapped.get = (k: string) => (calls.push('get'), store.get(k));
  wrapped.list = (p: string) => (calls.push('list'), store.list(p));
  wrapped.read = (r: Read[]) => (calls.push('read'), store.read(r));
  wrapped.txn = (c: Compare[], o: Op[], f?: Read[]) => (calls.push('txn'), store.txn(c, o, f));
  return { store: wrapped, calls };
}

describe('round trips to the store', () => {
  it('an allocation reads once for a new owner, then only commits; a release reads the address once', async () => {
    const raw = await openStore({});
    const { store, calls } = counting(raw);
    const c = new Control(store);
    await c.topology.replace(TOPOLOGY);
    await c.topology.addHost({ name: 'h1', ip: '192.168.1.1' });
    await c.ipam.allocate({ name: 'warm-up', host: 'h1', tenant: 'other' }); // the topology is read and parsed once
    calls.length = 0;
    await c.ipam.allocate({ name: 'x0', host: 'h1', tenant: 't' });
    assert.deepEqual(calls, ['read', 'txn'], 'a new owner: one read of host, name, blackouts, blocks; then the commit');
    for (let i = 1; i < 8; i++) {
      calls.length = 0;
      await c.ipam.allocate({ name: `x${i}`, host: 'h1', tenant: 't' });
      assert.deepEqual(calls, ['txn'], `allocation ${i}: the commit alone`);
    }
    calls.length = 0;
    const carved = (await c.ipam.allocate({ name: 'x8', host: 'h1', tenant: 't' })).record;
    assert.equal(carved.ip, '10.0.0.16', 'warm-up holds 10.0.0.0/29, x0-x7 fill 10.0.0.8/29');
    assert.deepEqual(calls, ['txn'], 'a full block: the group is known (this romanad carved from it), so block and group are written at once');
    let seen: string | undefined;
    calls.length = 0;
    await c.ipam.release('x3', { authorize: (rec) => void (seen = rec.host) });
    assert.equal(seen, 'h1');
    assert.deepEqual(calls, ['get', 'txn'], 'the address is read once, checked, released');
    calls.length = 0;
    assert.equal((await c.ipam.allocate({ name: 'x9', host: 'h1', tenant: 't' })).record.ip, '10.0.0.11', 'the released address is the lowest again');
    assert.deepEqual(calls, ['txn']);
    await assert.rejects(c.ipam.release('x4', { authorize: () => { throw new Error('refused'); } }), /refused/);
    assert.ok((await raw.get('/romana/addresses/x4')), 'a refused release changes nothing');
    await raw.close();
  });
});
