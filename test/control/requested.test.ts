// POST /address with `ip`: a requested address through the real API on the embedded store. Each
// refusal names its reason; what is given never collides with ordinary allocations.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { Control } from '../../src/control/control.js';
import { buildApp } from '../../src/server/app.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';

interface Addr { name: string; ip: string; host: string; tenant: string; segment: string; block: string }

describe('requested addresses (POST /address with ip)', () => {
  let store: Store;
  let app: FastifyInstance;
  const req = async <T = any>(method: string, url: string, body?: unknown) => { // eslint-disable-line @typescript-eslint/no-explicit-any
    const r = await app.inject({ method: method as 'GET', url, ...(body !== undefined ? { payload: body as object } : {}) });
    return { status: r.statusCode, body: (r.body ? JSON.parse(r.body) : undefined) as T };
  };
  const alloc = (name: string, extra: Record<string, unknown> = {}) => req<Addr & { error?: string; message?: string }>('POST', '/address', { name, host: 'h1', tenant: 't', ...extra });
  const refusal = async (name: string, extra: Record<string, unknown>, status: number, kind: string, re: RegExp) => {
    const r = await alloc(name, extra);
    assert.equal(r.status, status, JSON.stringify(r.body));
    assert.equal(r.body.error, kind);
    assert.match(r.body.message!, re);
    assert.equal((await req('GET', `/address/${name}`)).status, 404, 'a refusal changes nothing');
  };

  before(async () => {
    store = await openStore({});
    app = await buildApp({ control: new Control(store) });
    // Two groups: h1 gets 10.70.0.0/17, h2 10.70.128.0/17.
    const t = await req('POST', '/topology', { networks: [{ name: 'n', cidr: '10.70.0.0/16', block_mask: 29 }], topologies: [{ networks: ['n'], map: [{ groups: [] }, { groups: [] }] }] });
    assert.ok(t.status < 300, JSON.stringify(t.body));
    for (const [h, ip] of [['h1', '192.168.9.1'], ['h2', '192.168.9.2']]) assert.ok((await req('POST', '/hosts', { name: h, ip })).status < 300);
  });
  after(async () => {
    await app?.close();
    await store?.close();
  });

  it('in range: that address, from a block carved for the owner here; then from the same block', async () => {
    const a = await alloc('want-a', { ip: '10.70.0.42' });
    assert.equal(a.status, 201, JSON.stringify(a.body));
    assert.deepEqual([a.body.ip, a.body.block, a.body.host, a.body.tenant, a.body.segment], ['10.70.0.42', '10.70.0.40/29', 'h1', 't', 'default']);
    const b = await alloc('want-b', { ip: '10.70.0.46' });
    assert.equal(b.body.ip, '10.70.0.46');
    const blocks = (await req<{ blocks: { cidr: string; allocated_ip_count: number }[] }>('GET', '/blocks?host=h1')).body.blocks;
    assert.deepEqual(blocks.map((x) => [x.cidr, x.allocated_ip_count]), [['10.70.0.40/29', 2]]);
  });

  it('ordinary allocations after it use the same block first, never a taken address, then the blocks skipped', async () => {
    const got: string[] = [];
    for (let i = 0; i < 8; i++) got.push((await alloc(`plain-${i}`)).body.ip);
    assert.deepEqual(got.slice(0, 6), ['10.70.0.40', '10.70.0.41', '10.70.0.43', '10.70.0.44', '10.70.0.45', '10.70.0.47']);
    assert.deepEqual(got.slice(6), ['10.70.0.0', '10.70.0.1'], 'then block 0, skipped by the carving, is handed out');
  });

  it('already taken: refused (exists), naming the holder', async () => {
    await refusal('dup', { ip: '10.70.0.42' }, 409, 'exists', /10\.70\.0\.42 is already allocated \(to 'want-a'\)/);
  });

  it('outside every network: refused (invalid)', async () => {
    await refusal('far', { ip: '172.16.0.1' }, 400, 'invalid', /ip: 172\.16\.0\.1 is not in any network/);
  });

  it("in another host's group: refused, it could not be routed here", async () => {
    await refusal('wrong-group', { ip: '10.70.200.1' }, 400, 'invalid', /outside host 'h1''s group 10\.70\.0\.0\/17.*could not be routed/);
  });

  it('blacked out: refused, naming the blackout', async () => {
    assert.equal((await req('POST', '/blackouts', { cidr: '10.70.1.0/28' })).status, 201);
    await refusal('dark', { ip: '10.70.1.5' }, 400, 'invalid', /blacked out \(10\.70\.1\.0\/28\)/);
  });

  it("in a block another owner holds on this host: refused, naming the holder", async () => {
    await refusal('other-owner', { ip: '10.70.0.5', tenant: 'u' }, 409, 'exists', /block 10\.70\.0\.0\/29, and host 'h1' holds it for t:default/);
  });

  it('not an IPv4 address: refused naming the field', async () => {
    await refusal('bad', { ip: '10.70.0.300' }, 400, 'invalid', /ip: '10\.70\.0\.300' is not an IPv4 address/);
  });

  it('a released requested address can be requested again', async () => {
    assert.equal((await req('DELETE', '/address?addressName=want-b')).status, 200);
    const again = await alloc('want-b2', { ip: '10.70.0.46' });
    assert.equal(again.body.ip, '10.70.0.46');
  });
});

describe('requested addresses in a host/tenant/segment layout network', () => {
  let store: Store;
  let app: FastifyInstance;
  const req = async <T = any>(method: string, url: string, body?: unknown) => { // eslint-disable-line @typescript-eslint/no-explicit-any
    const r = await app.inject({ method: method as 'GET', url, ...(body !== undefined ? { payload: body as object } : {}) });
    return { status: r.statusCode, body: (r.body ? JSON.parse(r.body) : undefined) as T };
  };
  before(async () => {
    store = await openStore({});
    app = await buildApp({ control: new Control(store) });
    const t = await req('POST', '/topology', {
      networks: [{ name: 'classic', cidr: '10.0.0.0/8', layout: { host_bits: 8, tenant_bits: 8, segment_bits: 4, endpoint_bits: 4 } }],
      topologies: [{ networks: ['classic'], map: [{ name: 'rack', groups: [{ name: 'h1', ip: '192.168.0.1' }] }] }],
    });
    assert.ok(t.status < 300, JSON.stringify(t.body));
  });
  after(async () => {
    await app?.close();
    await store?.close();
  });

  it("only from the owner's block (made of its IDs): never carved; a free address there is given, others refused with the reason", async () => {
    const none = await req<{ error: string; message: string }>('POST', '/address', { name: 'early', host: 'h1', tenant: 't', ip: '10.1.1.3' });
    assert.equal(none.status, 400, JSON.stringify(none.body));
    assert.match(none.body.message, /follow the host\/tenant\/segment layout.*no block yet/);
    const first = await req<Addr>('POST', '/address', { name: 'first', host: 'h1', tenant: 't' });
    assert.equal(first.status, 201, JSON.stringify(first.body));
    const block = first.body.block;
    const base = first.body.ip.split('.').map(Number);
    const wanted = [...base.slice(0, 3), base[3] + 5].join('.');
    const got = await req<Addr>('POST', '/address', { name: 'wanted', host: 'h1', tenant: 't', ip: wanted });
    assert.equal(got.status, 201, JSON.stringify(got.body));
    assert.deepEqual([got.body.ip, got.body.block], [wanted, block]);
    const elsewhere = await req<{ message: string }>('POST', '/address', { name: 'elsewhere', host: 'h1', tenant: 't', ip: '10.200.0.1' });
    assert.equal(elsewhere.status, 400);
    assert.match(elsewhere.body.message, new RegExp(`only this owner's block on this host can give it, and it has its block ${block.replace(/\./g, '\\.')}`));
    const next = await req<Addr>('POST', '/address', { name: 'next', host: 'h1', tenant: 't' });
    assert.notEqual(next.body.ip, wanted, 'an ordinary allocation skips the requested address');
  });
});
