// The romanad API in-process (real Fastify, real embedded store in memory): allocation order,
// release, hosts, blackouts, topology replacement, and bad input answered with a named field.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { Control } from '../../src/control/control.js';
import { ipKey, parseIp } from '../../src/core/net/ipv4.js';
import { buildApp } from '../../src/server/app.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';

let app: FastifyInstance;
let store: Store;

async function fresh(topology?: unknown) {
  if (app) await app.close();
  if (store) await store.close();
  store = await openStore({});
  app = await buildApp({ control: new Control(store) });
  if (topology) assert.equal((await req('POST', '/topology', topology)).status, 200);
}

async function req(method: string, url: string, body?: unknown, raw?: string) {
  const r = await app.inject({
    method: method as 'GET', url,
    ...(raw !== undefined ? { payload: raw, headers: { 'content-type': 'application/json' } } : body !== undefined ? { payload: body as object } : {}),
  });
  return { status: r.statusCode, body: r.body ? JSON.parse(r.body) : undefined };
}

/** Every key/value in the store, to prove a rejected request changed nothing. */
async function snapshot(): Promise<string> {
  const r = await store.list('');
  return JSON.stringify(r.items.map((i) => [i.key, i.value]));
}

const two = {
  networks: [{ name: 'n', cidr: '10.0.0.0/24', block_mask: 30 }],
  topologies: [{ networks: ['n'], map: [{ name: 'g1', groups: [] }, { name: 'g2', groups: [] }] }],
};

after(async () => {
  await app?.close();
  await store?.close();
});

describe('allocation and release', () => {
  beforeEach(async () => {
    await fresh(two);
    await req('POST', '/hosts', { name: 'h1', ip: '192.168.0.1' });
    await req('POST', '/hosts', { name: 'h2', ip: '192.168.0.2' });
  });
  const alloc = (name: string, host = 'h1', tenant = 't', segment?: string) => req('POST', '/address', { name, host, tenant, ...(segment ? { segment } : {}) });

  it('fills a block lowest first, then carves the next; owners and hosts never share a block', async () => {
    const ips = [];
    for (let i = 0; i < 5; i++) ips.push((await alloc(`a${i}`)).body.ip);
    assert.deepEqual(ips, ['10.0.0.0', '10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4']);
    assert.equal((await alloc('s', 'h1', 't', 'other')).body.ip, '10.0.0.8');
    assert.equal((await alloc('u', 'h1', 'u')).body.ip, '10.0.0.12');
    assert.equal((await alloc('h2a', 'h2')).body.ip, '10.0.0.128');
    const blocks = (await req('GET', '/blocks')).body;
    assert.deepEqual(blocks.blocks.map((b: { cidr: string; allocated_ip_count: number }) => [b.cidr, b.allocated_ip_count]),
      [['10.0.0.0/30', 4], ['10.0.0.4/30', 1], ['10.0.0.8/30', 1], ['10.0.0.12/30', 1], ['10.0.0.128/30', 1]]);
    assert.equal(blocks.revision, 8);
  });
  it('segment defaults to "default"; tenant is required; unknown host is not_found', async () => {
    assert.equal((await alloc('x')).body.segment, 'default');
    const r = await req('POST', '/address', { name: 'y', host: 'h1' });
    assert.deepEqual([r.status, r.body.error], [400, 'invalid']);
    assert.match(r.body.message, /tenant/);
    assert.equal((await alloc('z', 'nope')).body.error, 'not_found');
  });
  it('releases by name or IP; an emptied block leaves /blocks and is reused first', async () => {
    await alloc('a');
    await alloc('b', 'h1', 'other');
    assert.equal((await req('DELETE', '/address?addressName=10.0.0.0')).status, 200);
    assert.deepEqual((await req('GET', '/blocks')).body.blocks.map((b: { cidr: string }) => b.cidr), ['10.0.0.4/30']);
    assert.equal((await alloc('c', 'h1', 'third')).body.ip, '10.0.0.0');
    assert.equal((await req('DELETE', '/address?addressName=b')).status, 200);
    assert.equal((await req('DELETE', '/address?addressName=b')).body.error, 'not_found');
    assert.equal((await req('GET', '/addresses')).body.addresses.length, 1);
  });
  it('a group full in every network is no_available_ip', async () => {
    await fresh({ networks: [{ name: 'n', cidr: '10.0.0.0/30', block_mask: 31 }], topologies: [{ networks: ['n'], map: [{ groups: [{ name: 'h', ip: '1.1.1.1' }] }] }] });
    for (const n of ['a', 'b', 'c', 'd']) assert.equal((await alloc(n, 'h')).status, 201);
    const r = await alloc('e', 'h');
    assert.deepEqual([r.status, r.body.error, r.body.message], [409, 'no_available_ip', "No available IP. Host 'h', tenant 't', segment 'default': network 'n', group #0 (10.0.0.0/30): full"]);
  });
  it('tenant networks come first, then wildcard; no network is no_network', async () => {
    await fresh({
      networks: [{ name: 'w', cidr: '10.0.0.0/24' }, { name: 'only-a', cidr: '10.9.0.0/24', tenants: ['a'] }],
      topologies: [{ networks: ['w', 'only-a'], map: [{ groups: [{ name: 'h', ip: '1.1.1.1' }] }] }],
    });
    assert.equal((await alloc('x', 'h', 'a')).body.ip, '10.9.0.0');
    assert.equal((await alloc('y', 'h', 'b')).body.ip, '10.0.0.0');
    await fresh({ networks: [{ name: 'only-a', cidr: '10.9.0.0/24', tenants: ['a'] }], topologies: [{ networks: ['only-a'], map: [{ groups: [{ name: 'h', ip: '1.1.1.1' }] }] }] });
    assert.equal((await alloc('z', 'h', 'b')).body.error, 'no_network');
  });
  it('allocation skips blacked-out addresses', async () => {
    assert.equal((await req('POST', '/blackouts', { cidr: '10.0.0.0/31' })).status, 201);
    assert.equal((await alloc('a')).body.ip, '10.0.0.2');
    const r = await req('POST', '/blackouts', { cidr: '10.0.0.0/30' });
    assert.deepEqual([r.status, r.body.error], [409, 'conflict']);
    assert.deepEqual((await req('GET', '/blackouts')).body.blackouts, [{ network: 'n', cidr: '10.0.0.0/31' }]);
    assert.equal((await req('DELETE', '/blackouts?cidr=10.0.0.0/30')).body.error, 'not_found');
    assert.deepEqual((await req('DELETE', '/blackouts?cidr=10.0.0.0/31')).body, { network: 'n', cidr: '10.0.0.0/31' });
  });
});

describe('hosts', () => {
  beforeEach(() => fresh({ networks: [{ name: 'n', cidr: '10.0.0.0/16' }], topologies: [{ networks: ['n'], map: [{ assignment: { rack: 'r1' }, groups: [] }, { groups: [] }] }] }));

  it('a host added before any topology is told the command that applies one', async () => {
    await fresh();
    const r = await req('POST', '/hosts', { name: 'h', ip: '1.1.1.1' });
    assert.deepEqual([r.body.error, r.body.message], ['no_suitable_group', 'there is no topology yet: apply one first (romana topology apply -f FILE; POST /topology)']);
  });
  it('label changes must keep the host eligible for its group', async () => {
    await req('POST', '/hosts', { name: 'h', ip: '1.1.1.1', labels: { rack: 'r1' } });
    const bad = await req('PUT', '/hosts/h', { labels: { rack: 'r2' } });
    assert.deepEqual([bad.status, bad.body.error], [400, 'invalid']);
    assert.match(bad.body.message, /ineligible/);
    const ok = await req('PUT', '/hosts/h', { name: 'h', labels: { rack: 'r1', extra: 'x' } });
    assert.deepEqual(ok.body.labels, { rack: 'r1', extra: 'x' });
    assert.equal((await req('PUT', '/hosts/h', { ip: '9.9.9.9', labels: {} })).body.error, 'invalid');
  });
  it('removal refuses while the host has addresses; force releases them first', async () => {
    await req('POST', '/hosts', { name: 'h', ip: '1.1.1.1' });
    const a = (await req('POST', '/address', { name: 'a', host: 'h', tenant: 't' })).body;
    const r = await req('DELETE', '/hosts/h');
    assert.deepEqual([r.status, r.body.error], [409, 'conflict']);
    // The CLI's words: its flag and its command, then the API's.
    assert.match(r.body.message, /remove the host with --force, which releases them \(romana host remove h --force; DELETE \/hosts\/h\?force=true\)$/);
    assert.equal((await req('POST', '/address', { name: 'b', host: 'h', tenant: 't' })).status, 201, 'a refused removal leaves the host usable');
    const gone = await req('DELETE', '/hosts/h?force=true');
    assert.deepEqual([gone.status, gone.body.name, gone.body.ip, gone.body.draining], [200, 'h', '1.1.1.1', undefined]);
    assert.equal((await req('GET', '/hosts/h')).body.error, 'not_found');
    assert.equal((await req('GET', `/address/${a.ip}`)).body.error, 'not_found');
    assert.deepEqual((await req('GET', '/blocks')).body.blocks, []);
    assert.equal((await req('POST', '/hosts', { name: 'h2', ip: '1.1.1.1' })).status, 201, 'the IP is free again');
  });
});

describe('topology replacement', () => {
  it('keeps every address at the same IP/host/owner, or conflicts and changes nothing', async () => {
    await fresh(two);
    await req('POST', '/hosts', { name: 'h1', ip: '192.168.0.1' });
    await req('POST', '/hosts', { name: 'h2', ip: '192.168.0.2' });
    await req('POST', '/address', { name: 'a', host: 'h2', tenant: 't' });
    // Four groups: h2's block 10.0.0.128/30 now lies in the third; h2 must stay there.
    const four = { networks: two.networks, topologies: [{ networks: ['n'], map: [{ groups: [] }, { groups: [] }, { groups: [] }, { groups: [] }] }] };
    assert.equal((await req('POST', '/topology', four)).status, 200);
    const t = (await req('GET', '/topology')).body;
    assert.deepEqual(t.topologies[0].map.map((g: { groups: { name: string }[] }) => g.groups.map((h) => h.name)), [['h1'], [], ['h2'], []]);
    assert.equal((await req('POST', '/address', { name: 'b', host: 'h2', tenant: 't' })).body.ip, '10.0.0.129');
    assert.equal((await req('POST', '/address', { name: 'c', host: 'h2', tenant: 'u' })).body.ip, '10.0.0.132');
    const before = await snapshot();
    const moved = { networks: [{ name: 'n', cidr: '10.1.0.0/24', block_mask: 30 }], topologies: four.topologies };
    const r = await req('POST', '/topology', moved);
    assert.deepEqual([r.status, r.body.error], [409, 'conflict']);
    assert.equal(await snapshot(), before);
  });
  it('GET output can be posted back unchanged', async () => {
    await fresh(two);
    await req('POST', '/hosts', { name: 'h1', ip: '192.168.0.1' });
    const t1 = (await req('GET', '/topology')).body;
    const r = await req('POST', '/topology', t1);
    assert.deepEqual([r.status, r.body.dry_run, r.body.changes], [200, false, []]);
    assert.deepEqual((await req('GET', '/topology')).body, t1);
  });
  it('re-applying an old `topology show` undoes nothing: removed hosts stay removed, labels stay as set', async () => {
    await fresh({ networks: [{ name: 'n', cidr: '10.0.0.0/24' }], topologies: [{ networks: ['n'], map: [{ name: 'r1', groups: [{ name: 'h0', ip: '192.168.0.10' }] }, { name: 'r2', groups: [] }] }] });
    await req('POST', '/hosts', { name: 'h1', ip: '192.168.0.1', labels: { tier: 'a' } });
    await req('POST', '/hosts', { name: 'h2', ip: '192.168.0.2' });
    const shown = (await req('GET', '/topology')).body;
    assert.deepEqual(shown.topologies[0].map.map((g: { groups: { name: string }[] }) => g.groups.map((h) => h.name)), [['h0', 'h2'], ['h1']]);
    assert.equal((await req('DELETE', '/hosts/h2')).status, 200);
    assert.equal((await req('DELETE', '/hosts/h0')).status, 200, 'a host the document listed can be removed too');
    assert.equal((await req('PATCH', '/hosts/h1', { labels: { tier: 'b', new: 'x' } })).status, 200);
    const before = await snapshot();
    const dry = await req('POST', '/topology?dry_run=true', shown);
    assert.deepEqual([dry.status, dry.body.dry_run], [200, true]);
    assert.deepEqual(dry.body.changes.map((c: { name: string; change: string }) => `${c.name} ${c.change}`), ['h0 skipped', 'h2 skipped', 'h1 kept']);
    assert.equal(await snapshot(), before, 'a dry run writes nothing');
    const r = await req('POST', '/topology', shown);
    assert.deepEqual([r.status, r.body.changes], [200, dry.body.changes]);
    assert.deepEqual((await req('GET', '/hosts')).body.hosts.map((h: { name: string; labels: object }) => [h.name, h.labels]), [['h1', { tier: 'b', new: 'x' }]]);
  });
  it('a network renamed (same CIDR) and groups restructured keep every address, under the new names', async () => {
    await fresh({ networks: [{ name: 'old', cidr: '10.0.0.0/24', block_mask: 30 }], topologies: [{ networks: ['old'], map: [{ name: 'r1', groups: [] }, { name: 'r2', groups: [] }] }] });
    await req('POST', '/hosts', { name: 'h1', ip: '192.168.0.1' });
    await req('POST', '/hosts', { name: 'h2', ip: '192.168.0.2' });
    const a = (await req('POST', '/address', { name: 'a', host: 'h2', tenant: 't' })).body;
    await req('POST', '/blackouts', { cidr: '10.0.0.200/30' });
    // r2 (10.0.0.128/25) becomes a zone of two racks; h2's block 10.0.0.128/30 lies in the first.
    const next = { networks: [{ name: 'pods', cidr: '10.0.0.0/24', block_mask: 30 }], topologies: [{ networks: ['pods'], map: [{ name: 'r1', groups: [] }, { name: 'z2', groups: [{ name: 'r2a', groups: [] }, { name: 'r2b', groups: [] }] }] }] };
    const dry = await req('POST', '/topology?dry_run=1', next);
    assert.deepEqual(dry.body.changes.map((c: { object: string; name: string; change: string }) => `${c.object} ${c.name} ${c.change}`),
      ['network old renamed', 'group r2 removed', 'group z2 added', 'group z2/r2a added', 'group z2/r2b added', 'blocks old -> pods moved', 'blackout 10.0.0.200/30 moved', 'host h2 moved']);
    assert.equal((await req('POST', '/topology', next)).status, 200);
    const moved = (await req('GET', '/address/a')).body;
    assert.deepEqual(moved, { ...a, network: 'pods' });
    assert.deepEqual((await req('GET', '/blocks')).body.blocks.map((b: { cidr: string; network: string; host: string }) => [b.cidr, b.network, b.host]), [['10.0.0.128/30', 'pods', 'h2']]);
    assert.deepEqual((await req('GET', '/blackouts')).body.blackouts, [{ network: 'pods', cidr: '10.0.0.200/30' }]);
    assert.equal((await req('POST', '/address', { name: 'b', host: 'h2', tenant: 't' })).body.ip, '10.0.0.129', 'the same block goes on');
    assert.equal((await req('DELETE', '/address?addressName=a')).status, 200);
    const check = (await req('GET', '/ipam/check')).body;
    assert.equal(check.summary.problems, 0, JSON.stringify(check.findings));
  });
  it('expands the VPC shorthand', async () => {
    await fresh({ type: 'vpc', 'num-azs': 2, 'prefix-groups': 2, network: '10.192.0.0/16' });
    const t = (await req('GET', '/topology')).body;
    assert.deepEqual(t.networks.map((n: { name: string }) => n.name), ['vpc']);
    assert.deepEqual(t.topologies[0].map.map((g: { name: string; cidr: string }) => [g.name, g.cidr]), [['az-1', '10.192.0.0/17'], ['az-2', '10.192.128.0/17']]);
    const h = await req('POST', '/hosts', { name: 'h', ip: '1.1.1.1', labels: { 'topology.kubernetes.io/zone': 'az-2' } });
    assert.equal(h.status, 201);
    assert.equal((await req('POST', '/address', { name: 'a', host: 'h', tenant: 't' })).body.ip, '10.192.128.0');
  });
});

describe('bad input', () => {
  before(() => fresh(two));
  const cases: [string, string, unknown, string | undefined, RegExp][] = [
    ['POST', '/hosts', { name: 'h', ip: 'not-an-ip' }, undefined, /ip/],
    ['POST', '/hosts', { name: 'h', ip: '1.1.1.1', labels: { a: 1 } }, undefined, /labels\.a/],
    ['POST', '/hosts', { name: 'h', ip: '1.1.1.1', color: 'red' }, undefined, /color/],
    ['POST', '/hosts', { name: 'h', ip: '1.1.1.1', agent_port: 70000 }, undefined, /agent_port/],
    ['POST', '/address', { name: 'a', host: 'h1', tenant: 't', segment: 'a/b' }, undefined, /segment/],
    ['POST', '/address', { name: 7, host: 'h1', tenant: 't' }, undefined, /name/],
    ['POST', '/topology', undefined, '{"networks": [', /json/i],
    ['POST', '/topology', [1, 2], undefined, /object/],
    ['POST', '/topology', { networks: [{ name: 'n', cidr: '10.0.0.0/33' }], topologies: [] }, undefined, /networks\[0\]\.cidr/],
    ['POST', '/blackouts', { cidr: '10.0.0.1/24' }, undefined, /cidr/],
    ['DELETE', '/address', undefined, undefined, /addressName/],
  ];
  for (const [method, url, body, raw, re] of cases) {
    it(`${method} ${url} ${raw ?? JSON.stringify(body)} -> invalid naming the field`, async () => {
      const before = await snapshot();
      const r = await req(method, url, body, raw);
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.body.error, 'invalid');
      assert.match(r.body.message, re);
      assert.equal(await snapshot(), before);
    });
  }
  it('unknown routes are not_found, and the OpenAPI document is served', async () => {
    assert.equal((await req('GET', '/nope')).body.error, 'not_found');
    const o = (await req('GET', '/openapi.json')).body;
    assert.equal(o.openapi.slice(0, 2), '3.');
    assert.ok(o.paths['/address'] && o.paths['/hosts/{name}']);
  });
});

describe('API conventions', () => {
  beforeEach(() => fresh(two));

  it('lists are objects with the items under a named key and a revision', async () => {
    const n = await req('GET', '/networks');
    assert.equal(n.status, 200);
    assert.deepEqual(n.body.networks, [{ name: 'n', cidr: '10.0.0.0/24', block_mask: 30 }]);
    assert.ok(Number.isInteger(n.body.revision) && n.body.revision > 0);
    for (const [url, key] of [['/hosts', 'hosts'], ['/addresses', 'addresses'], ['/blocks', 'blocks'], ['/blackouts', 'blackouts'], ['/policies', 'policies'], ['/namespaces', 'namespaces'], ['/pods', 'pods']]) {
      const r = await req('GET', url);
      assert.ok(Array.isArray(r.body[key]) && Number.isInteger(r.body.revision), `${url}: ${JSON.stringify(r.body)}`);
    }
  });
  it('creates answer 201; deletes answer 200 with what was deleted, on every resource', async () => {
    const created: [string, string, unknown][] = [
      ['POST', '/hosts', { name: 'h1', ip: '192.168.0.1' }], ['POST', '/address', { name: 'a', host: 'h1', tenant: 't' }],
      ['POST', '/blackouts', { cidr: '10.0.0.64/30' }], ['POST', '/policies', { id: 'p', direction: 'ingress', applied_to: [{ tenant: 't' }], ingress: [] }],
      ['PUT', '/namespaces/ns', { labels: {} }], ['PUT', '/pods/ns/p', { labels: {} }],
    ];
    for (const [m, url, body] of created) assert.equal((await req(m, url, body)).status, 201, `${m} ${url}`);
    assert.equal((await req('PUT', '/namespaces/ns', { labels: { a: 'b' } })).status, 200, 'a replacement is not a create');
    const deleted: [string, Record<string, unknown>][] = [
      ['/address?addressName=a', { name: 'a' }], ['/blackouts?cidr=10.0.0.64/30', { cidr: '10.0.0.64/30' }], ['/policies/p', { id: 'p' }],
      ['/pods/ns/p', { namespace: 'ns', name: 'p' }], ['/namespaces/ns', { name: 'ns', labels: { a: 'b' } }], ['/hosts/h1', { name: 'h1', ip: '192.168.0.1' }],
    ];
    for (const [url, want] of deleted) {
      const r = await req('DELETE', url);
      assert.equal(r.status, 200, `DELETE ${url}: ${JSON.stringify(r.body)}`);
      for (const [k, v] of Object.entries(want)) assert.deepEqual(r.body[k], v, `DELETE ${url}: ${k}`);
      assert.equal((await req('DELETE', url)).status, 404, `DELETE ${url} again`);
    }
  });
  it('a wrong method is 405 with Allow; a wrong media type is 415; an unknown query parameter is invalid, naming it', async () => {
    const before = await snapshot();
    const m = await app.inject({ method: 'PATCH', url: '/networks' });
    assert.deepEqual([m.statusCode, m.json().error, m.headers.allow], [405, 'method_not_allowed', 'GET, HEAD']);
    assert.equal((await req('GET', '/nowhere')).status, 404);
    const t = await app.inject({ method: 'POST', url: '/hosts', payload: 'name=h', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.deepEqual([t.statusCode, t.json().error], [415, 'unsupported_media_type']);
    const q = await req('GET', '/hosts?hots=h1');
    assert.deepEqual([q.status, q.body.error, q.body.message], [400, 'invalid', 'querystring hots: is not a known query parameter']);
    assert.equal((await req('DELETE', '/hosts/h1?forse=true')).body.message, 'querystring forse: is not a known query parameter');
    assert.equal(await snapshot(), before);
  });
});

describe('host addresses', () => {
  beforeEach(() => fresh(two));
  it('refuses unspecified, broadcast, loopback, multicast and reserved IPs, IPs in a pod network and IPs of endpoints', async () => {
    await req('POST', '/hosts', { name: 'h1', ip: '192.168.0.1' });
    const a = (await req('POST', '/address', { name: 'a', host: 'h1', tenant: 't' })).body;
    const before = await snapshot();
    for (const [ip, re] of [
      ['0.0.0.0', /ip: 0\.0\.0\.0 is the unspecified address/], ['0.1.2.3', /0\.0\.0\.0\/8/], ['255.255.255.255', /the broadcast address/],
      ['127.0.0.1', /a loopback address/], ['224.0.0.5', /a multicast address/], ['250.0.0.1', /reserved/],
      ['10.0.0.77', /ip: 10\.0\.0\.77 is inside pod network 'n' \(10\.0\.0\.0\/24\); a host's IP must lie outside every pod network/],
      [a.ip, new RegExp(`ip: ${a.ip.replace(/\./g, '\\.')} is held by address 'a'`)],
    ] as [string, RegExp][]) {
      const r = await req('POST', '/hosts', { name: 'x', ip });
      assert.ok(r.status === 400 || r.status === 409, `${ip}: ${r.status}`);
      assert.match(r.body.message, re);
    }
    assert.equal(await snapshot(), before);
  });
  it('a topology whose network would hold a host\'s IP, or that lists a host inside one, is refused', async () => {
    await req('POST', '/hosts', { name: 'h1', ip: '10.1.0.9' });
    const r = await req('POST', '/topology', { networks: [{ name: 'wide', cidr: '10.0.0.0/8' }], topologies: [{ networks: ['wide'], map: [{ groups: [] }] }] });
    assert.deepEqual([r.status, r.body.message], [409, "host 'h1': 10.1.0.9 is inside pod network 'wide' (10.0.0.0/8); a host's IP must lie outside every pod network"]);
    const l = await req('POST', '/topology', { networks: [{ name: 'n', cidr: '10.0.0.0/24' }], topologies: [{ networks: ['n'], map: [{ groups: [{ name: 'h9', ip: '10.0.0.9' }] }] }] });
    assert.deepEqual([l.status, l.body.message], [400, "topologies[0].map[0].groups[0].ip: 10.0.0.9 is inside pod network 'n' (10.0.0.0/24); a host's IP must lie outside every pod network"]);
  });
  it('ipam check reports a host IP that an endpoint holds', async () => {
    await req('POST', '/hosts', { name: 'h1', ip: '192.168.0.1' });
    const a = (await req('POST', '/address', { name: 'a', host: 'h1', tenant: 't' })).body;
    // A host record written before IPs were checked (or by hand): its IP is the endpoint's.
    await store.put('/romana/hosts/old', JSON.stringify({ name: 'old', ip: a.ip, labels: {}, agent_port: 9604 }));
    const c = (await req('GET', '/ipam/check')).body;
    const f = c.findings.find((x: { kind: string }) => x.kind === 'host_ip_collision');
    assert.ok(f, JSON.stringify(c.findings));
    assert.deepEqual([f.subject, f.host, f.safe], [a.ip, 'old', false]);
    assert.match(f.detail, new RegExp(`is the IP of host old and of address a`));
  });
});

describe('address names and IPs', () => {
  beforeEach(async () => {
    await fresh(two);
    await req('POST', '/hosts', { name: 'h1', ip: '192.168.0.1' });
  });
  it('a name that reads as an IP is refused, so a release by IP means one address', async () => {
    const r = await req('POST', '/address', { name: '10.0.0.2', host: 'h1', tenant: 't' });
    assert.deepEqual([r.status, r.body.message], [400, "name: '10.0.0.2' reads as an IP address; an address name must not (name it after its endpoint instead)"]);
  });
  it('release takes name=, ip= or addressName= (exactly one), and each means what it says', async () => {
    const a = (await req('POST', '/address', { name: 'a', host: 'h1', tenant: 't' })).body;
    const b = (await req('POST', '/address', { name: 'b', host: 'h1', tenant: 't' })).body;
    assert.match((await req('DELETE', `/address?name=a&ip=${b.ip}`)).body.message, /give exactly one of name, ip or addressName \(got name, ip\)/);
    assert.match((await req('DELETE', '/address')).body.message, /got none/);
    assert.equal((await req('DELETE', `/address?name=${b.ip}`)).body.message, `no address is named '${b.ip}'`);
    assert.equal((await req('DELETE', '/address?ip=10.0.0.99')).body.message, 'no address holds IP 10.0.0.99');
    assert.equal((await req('DELETE', '/address?ip=a')).body.error, 'invalid');
    assert.equal((await req('DELETE', `/address?ip=${b.ip}`)).body.name, 'b');
    assert.equal((await req('DELETE', '/address?name=a')).body.ip, a.ip);
  });
  it('a record named like an IP (from before names were checked) is reached by name=, and addressName= prefers the IP', async () => {
    const a = (await req('POST', '/address', { name: 'a', host: 'h1', tenant: 't' })).body;
    const b = (await req('POST', '/address', { name: 'b', host: 'h1', tenant: 't' })).body;
    // Rename b to a's IP by hand, as an old romanad could have stored it.
    const kv = await store.get('/romana/addresses/b');
    await store.txn([], [{ type: 'delete', key: kv!.key }, { type: 'put', key: `/romana/addresses/${a.ip}`, value: JSON.stringify({ ...b, name: a.ip }) },
      { type: 'put', key: `/romana/ips/${ipKey(parseIp(b.ip))}`, value: a.ip }]);
    assert.equal((await req('DELETE', `/address?addressName=${a.ip}`)).body.name, 'a', 'addressName: the address holding the IP');
    assert.equal((await req('DELETE', `/address?name=${a.ip}`)).body.ip, b.ip, 'name: the one named so');
  });
});
