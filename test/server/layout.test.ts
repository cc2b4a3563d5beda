// A network with Romana's host/tenant/segment layout, through romanad's API in-process (real Fastify,
// real embedded store): every ID space in order of first use, exhaustion naming the part, reuse after
// release, host IDs, blocks as segment CIDRs, `ipam check`, host removal and topology changes.
import assert from 'node:assert/strict';
import { after, beforeEach, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { Control } from '../../src/control/control.js';
import { LAYOUT } from '../../src/control/keys.js';
import { buildApp } from '../../src/server/app.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';

let app: FastifyInstance | undefined;
let store: Store | undefined;

async function fresh(topology: unknown) {
  await app?.close();
  await store?.close();
  store = await openStore({});
  app = await buildApp({ control: new Control(store) });
  const r = await req('POST', '/topology', topology);
  assert.ok(r.status < 300, JSON.stringify(r.body));
}

async function req(method: string, url: string, body?: unknown) {
  const r = await app!.inject({ method: method as 'GET', url, ...(body !== undefined ? { payload: body as object } : {}) });
  return { status: r.statusCode, body: r.body ? JSON.parse(r.body) : undefined };
}

let seq = 0;
async function alloc(host: string, tenant: string, segment: string, name = `a${++seq}`) {
  return req('POST', '/address', { name, host, tenant, segment });
}
async function ip(host: string, tenant: string, segment: string, name?: string): Promise<string> {
  const r = await alloc(host, tenant, segment, name);
  assert.ok(r.status < 300, JSON.stringify(r.body));
  return r.body.ip;
}
const release = (nameOrIp: string) => req('DELETE', `/address?addressName=${encodeURIComponent(nameOrIp)}`);
const snapshot = async () => JSON.stringify((await store!.list('')).items.map((i) => [i.key, i.value]));

const classic = (hosts = 2, extra: object = {}) => ({
  networks: [{ name: 'classic', cidr: '10.0.0.0/8', layout: { host_bits: 8, tenant_bits: 8, segment_bits: 4, endpoint_bits: 4 }, ...extra }],
  topologies: [{ networks: ['classic'], map: [{ name: 'rack', groups: Array.from({ length: hosts }, (_, i) => ({ name: `h${i + 1}`, ip: `192.168.0.${i + 1}` })) }] }],
});
// Two bits per part: IDs 1-3 of each.
const tiny = {
  networks: [{ name: 'tiny', cidr: '10.9.0.0/24', layout: { host_bits: 2, tenant_bits: 2, segment_bits: 2, endpoint_bits: 2 } }],
  topologies: [{ networks: ['tiny'], map: [{ name: 'rack', groups: [] }] }],
};

after(async () => {
  await app?.close();
  await store?.close();
});

describe('layout network: addresses are IDs', () => {
  beforeEach(() => fresh(classic()));

  it("gives the seed's example: endpoint 11 of segment 1 of tenant 1 on host 1 is 10.1.1.27, in block 10.1.1.16/28", async () => {
    const ips: string[] = [];
    for (let i = 0; i < 11; i++) ips.push(await ip('h1', 't1', 's1'));
    assert.deepEqual(ips, Array.from({ length: 11 }, (_, i) => `10.1.1.${17 + i}`), 'endpoint IDs start at 1, lowest free');
    const blocks = (await req('GET', '/blocks')).body.blocks;
    assert.deepEqual(blocks.map((b: object) => ({ ...b })), [{ cidr: '10.1.1.16/28', network: 'classic', host: 'h1', tenant: 't1', segment: 's1', allocated_ip_count: 11 }]);
  });

  it('tenant IDs are network-wide in order of first use; segment IDs per tenant; host IDs by placement', async () => {
    assert.equal(await ip('h2', 'blue', 'web'), '10.2.1.17');
    assert.equal(await ip('h1', 'red', 'db'), '10.1.2.17');
    assert.equal(await ip('h1', 'blue', 'web'), '10.1.1.17', "blue keeps tenant ID 1 on every host");
    assert.equal(await ip('h1', 'blue', 'db'), '10.1.1.33', 'db is segment 2 of blue');
    assert.equal(await ip('h2', 'red', 'web'), '10.2.2.33', 'web is segment 2 of red (segments are per tenant)');
    const hosts = (await req('GET', '/hosts')).body.hosts;
    assert.deepEqual(hosts.map((h: { name: string; id: number }) => [h.name, h.id]), [['h1', 1], ['h2', 2]]);
    const shown = JSON.stringify((await req('GET', '/topology')).body);
    assert.match(shown, /"name":"h1","ip":"192.168.0.1","id":1/);
    assert.deepEqual((await req('GET', '/networks')).body.networks, [{ name: 'classic', cidr: '10.0.0.0/8', block_mask: 28, layout: { host_bits: 8, tenant_bits: 8, segment_bits: 4, endpoint_bits: 4 } }]);
  });

  it('a released endpoint ID is reused; a tenant and segment whose last block goes give their IDs back', async () => {
    const a = await ip('h1', 'blue', 'web', 'b1');
    await ip('h1', 'blue', 'web', 'b2');
    assert.equal((await release('b1')).status, 200);
    assert.equal(await ip('h1', 'blue', 'web'), a, 'lowest free endpoint again');
    const red = await ip('h1', 'red', 'x', 'r1');
    assert.equal(red, '10.1.2.17');
    // red's only block empties: its segment and tenant IDs are free, and the next tenant takes them.
    assert.equal((await release(red)).status, 200);
    assert.equal(await ip('h2', 'green', 'y'), '10.2.2.17', 'green reuses tenant ID 2');
    const keys = (await store!.list(LAYOUT)).items.map((i) => i.key).filter((k) => k.includes('red'));
    assert.deepEqual(keys, [], 'nothing of red is left');
    const check = (await req('GET', '/ipam/check')).body;
    assert.deepEqual(check.findings, [], JSON.stringify(check.findings));
    assert.equal(check.summary.addresses, 3);
  });

  it('POST /hosts takes an id, refuses one in use or too large, and a removed host frees its ID', async () => {
    const add = (name: string, n: number, id?: number) => req('POST', '/hosts', { name, ip: `192.168.1.${n}`, ...(id !== undefined ? { id } : {}) });
    assert.equal((await add('h9', 9, 9)).body.id, 9);
    const taken = await add('hx', 10, 9);
    assert.equal(taken.status, 409);
    assert.match(taken.body.message, /id: 9 is already the ID of host 'h9'/);
    const big = await add('hy', 11, 256);
    assert.equal(big.status, 400);
    assert.match(big.body.message, /id: 256 is outside the host IDs 1-255 of network 'classic'/);
    assert.equal((await add('h3', 3)).body.id, 3, 'lowest free');
    assert.equal(await ip('h9', 'blue', 'web', 'on9'), '10.9.1.17');
    assert.equal((await req('DELETE', '/hosts/h3')).body.id, 3, 'the removed host, with its ID');
    assert.equal((await add('h4', 4)).body.id, 3, "h3's ID is free again");
    assert.equal((await req('DELETE', '/hosts/h9?force=true')).status, 200, 'forced removal releases its addresses');
    assert.equal((await store!.list(LAYOUT)).items.length, 0, 'and with them the tenant and segment IDs');
    assert.equal((await add('h5', 5)).body.id, 4);
  });

  it('a topology change keeps IDs and addresses; a layout change while addresses exist is refused and changes nothing', async () => {
    const a = await ip('h2', 'blue', 'web');
    await req('POST', '/hosts', { name: 'api', ip: '192.168.0.50' });
    const shown = (await req('GET', '/topology')).body;
    assert.ok((await req('POST', '/topology', shown)).status < 300, 'the shown topology posts back');
    assert.equal((await req('GET', `/address/${encodeURIComponent(a)}`)).body.ip, a);
    assert.deepEqual((await req('GET', '/hosts')).body.hosts.map((h: { id: number }) => h.id), [1, 2, 3]);
    const before = await snapshot();
    const changed = await req('POST', '/topology', { ...classic(2), networks: [{ name: 'classic', cidr: '10.0.0.0/8', layout: { host_bits: 7, tenant_bits: 9, segment_bits: 4, endpoint_bits: 4 } }] });
    assert.equal(changed.status, 409);
    assert.match(changed.body.message, /network 'classic' has blocks/);
    const plain = await req('POST', '/topology', { ...classic(2), networks: [{ name: 'classic', cidr: '10.0.0.0/8', block_mask: 28 }] });
    assert.equal(plain.status, 409);
    assert.equal(await snapshot(), before);
  });

  it('refuses a layout with a block_mask or an unknown field, naming it, and changes nothing', async () => {
    const before = await snapshot();
    const r1 = await req('POST', '/topology', classic(2, { block_mask: 28 }));
    assert.equal(r1.status, 400);
    assert.match(r1.body.message, /networks\[0\]\.block_mask/);
    const r2 = await req('POST', '/topology', { ...classic(2), networks: [{ name: 'classic', cidr: '10.0.0.0/8', layout: { host_bits: 8, tenant_bits: 8, segment_bits: 4, endpoint_bits: 4, extra: 1 } }] });
    assert.equal(r2.status, 400);
    assert.match(r2.body.message, /networks\[0\]\.layout/);
    assert.equal(await snapshot(), before);
  });
});

describe('layout network: running out of each part', () => {
  beforeEach(() => fresh(tiny));

  it('hosts: the fourth host is no_available_ip naming the host IDs', async () => {
    for (let i = 1; i <= 3; i++) assert.equal((await req('POST', '/hosts', { name: `h${i}`, ip: `192.168.0.${i}` })).body.id, i);
    const r = await req('POST', '/hosts', { name: 'h4', ip: '192.168.0.4' });
    assert.equal(r.status, 409);
    assert.equal(r.body.error, 'no_available_ip');
    assert.match(r.body.message, /the host IDs in network 'tiny' ran out \(2 host bits: IDs 1-3/);
  });

  it('tenants, segments and endpoints: each runs out with its own message, and nothing half-done is left', async () => {
    await req('POST', '/hosts', { name: 'h1', ip: '192.168.0.1' });
    for (const t of ['a', 'b', 'c']) await ip('h1', t, 's');
    const before = await snapshot();
    const t = await alloc('h1', 'd', 's');
    assert.equal(t.status, 409);
    assert.equal(t.body.error, 'no_available_ip');
    assert.match(t.body.message, /the tenant IDs in network 'tiny' ran out/);
    assert.equal(await snapshot(), before, 'a refused allocation writes nothing');
    for (const s of ['s2', 's3']) await ip('h1', 'a', s);
    const s = await alloc('h1', 'a', 's4');
    assert.match(s.body.message, /the segment IDs of tenant 'a' in network 'tiny' ran out/);
    await ip('h1', 'b', 's');
    await ip('h1', 'b', 's');
    const e = await alloc('h1', 'b', 's');
    assert.equal(e.status, 409);
    assert.match(e.body.message, /the endpoint IDs of segment 's' of tenant 'b' on host 'h1' in network 'tiny' ran out \(2 endpoint bits/);
    // Endpoint 0 of every segment was never handed out; endpoint 3 (all ones) was.
    const ips = (await req('GET', '/addresses')).body.addresses.map((x: { ip: string }) => x.ip).sort();
    assert.ok(!ips.some((x: string) => Number(x.split('.')[3]) % 4 === 0), ips.join(' '));
    assert.ok(ips.includes('10.9.0.103'), ips.join(' ')); // host 1, tenant 2, segment 1, endpoint 3
  });

  it('a classic network after an exhausted layout one still serves the tenant', async () => {
    await fresh({ ...tiny, networks: [...tiny.networks, { name: 'spill', cidr: '10.10.0.0/24', block_mask: 28 }], topologies: [{ networks: ['tiny', 'spill'], map: [{ name: 'rack', groups: [] }] }] });
    await req('POST', '/hosts', { name: 'h1', ip: '192.168.0.1' });
    for (let i = 0; i < 3; i++) assert.match(await ip('h1', 'a', 's'), /^10\.9\.0\./);
    assert.equal(await ip('h1', 'a', 's'), '10.10.0.0');
  });

  it('`network` picks one network (as the OpenStack driver does); an unknown or closed one is refused', async () => {
    await fresh({ ...tiny, networks: [...tiny.networks, { name: 'spill', cidr: '10.10.0.0/24', block_mask: 28, tenants: ['a'] }], topologies: [{ networks: ['tiny', 'spill'], map: [{ name: 'rack', groups: [] }] }] });
    await req('POST', '/hosts', { name: 'h1', ip: '192.168.0.1' });
    const got = await req('POST', '/address', { name: 'n1', host: 'h1', tenant: 'a', segment: 's', network: 'spill' });
    assert.equal(got.body.ip, '10.10.0.0');
    assert.equal(got.body.network, 'spill');
    const unknown = await req('POST', '/address', { name: 'n2', host: 'h1', tenant: 'a', network: 'nope' });
    assert.equal(unknown.status, 404);
    assert.match(unknown.body.message, /network: there is no network 'nope'/);
    const closed = await req('POST', '/address', { name: 'n3', host: 'h1', tenant: 'b', network: 'spill' });
    assert.equal(closed.status, 409);
    assert.equal(closed.body.error, 'no_network');
  });
});
