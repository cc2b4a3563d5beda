// Runs the public IPAM conformance cases (../shared/conformance/ipam/) through the REST API of a real
// romanad process, one fresh embedded store per case, exactly as the cases' README describes.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type EtcdServer, startEtcd } from '../helpers/etcd.js';
import { matches } from '../helpers/match.js';
import { ROOT, type RomanadOptions, startRomanad } from '../helpers/romanad.js';

const DIR = join(ROOT, '..', 'shared', 'conformance', 'ipam');

interface Step {
  http: { method: string; path: string; body?: unknown; raw_body?: string };
  expect: Record<string, unknown>;
}
interface Case { id: string; description: string; topology: unknown; steps: Step[] }

type Entry = Record<string, unknown>;

async function call(url: string, method: string, path: string, body?: unknown, raw?: string) {
  const init: RequestInit = { method };
  if (raw !== undefined) init.body = raw;
  else if (body !== undefined) init.body = JSON.stringify(body);
  if (init.body !== undefined) init.headers = { 'content-type': 'application/json' };
  const res = await fetch(url + path, init);
  const text = await res.text();
  let json: unknown;
  try { json = text ? JSON.parse(text) : undefined; } catch { json = text; }
  return { status: res.status, body: json as Record<string, unknown> };
}

/** Checks the shape of every map tree and returns every group entry (with its topology's networks). */
function groupsOf(topology: { topologies: { networks: string[]; map: Entry[] }[] }): Entry[] {
  const out: Entry[] = [];
  const walk = (e: Entry, nets: string[], where: string) => {
    if (e.ip !== undefined) {
      assert.ok(typeof e.name === 'string' && typeof e.ip === 'string' && typeof e.labels === 'object', `${where}: host entry needs name, ip, labels`);
      return;
    }
    const cidrs = e.cidrs as Record<string, string>;
    assert.ok(cidrs && typeof cidrs === 'object', `${where}: group without cidrs`);
    assert.deepEqual(Object.keys(cidrs).sort(), [...nets].sort(), `${where}: cidrs must have one entry per network`);
    if (nets.length === 1) assert.equal(e.cidr, cidrs[nets[0]], `${where}: cidr must equal the single network's cidr`);
    assert.ok(Array.isArray(e.groups), `${where}: group without groups array`);
    out.push(e);
    (e.groups as Entry[]).forEach((c, i) => walk(c, nets, `${where}.groups[${i}]`));
  };
  topology.topologies.forEach((t, ti) => t.map.forEach((e, i) => walk(e, t.networks, `topologies[${ti}].map[${i}]`)));
  return out;
}

function checkGroups(topology: Parameters<typeof groupsOf>[0], expected: Entry[]) {
  const groups = groupsOf(topology);
  for (const want of expected) {
    const found = groups.find((g) =>
      (want.name === undefined || g.name === want.name) &&
      (want.cidr === undefined || g.cidr === want.cidr || Object.values(g.cidrs as object).includes(want.cidr)));
    assert.ok(found, `no group matching ${JSON.stringify({ name: want.name, cidr: want.cidr })}`);
    const members = found.groups as Entry[];
    const hosts = members.filter((m) => m.ip !== undefined);
    if (want.hosts) assert.deepEqual(hosts.map((h) => h.name).sort(), [...(want.hosts as string[])].sort(), `hosts of ${want.name ?? want.cidr}`);
    if (want.host_entries) assert.ok(matches(hosts, want.host_entries), `host entries of ${want.name ?? want.cidr}: ${JSON.stringify(hosts)}`);
    if (want.children) assert.deepEqual(members.filter((m) => m.ip === undefined).map((c) => c.cidr ?? Object.values(c.cidrs as object)[0]), want.children);
    if (want.subset) assert.ok(matches(found, want.subset), `subset of ${want.name ?? want.cidr}: ${JSON.stringify(found)}`);
  }
}

async function checkStep(url: string, step: Step, res: { status: number; body: Record<string, unknown> }) {
  const ex = step.expect;
  const ctx = `${step.http.method} ${step.http.path} -> ${res.status} ${JSON.stringify(res.body)}`;
  assert.ok(res.status < 500, `5xx: ${ctx}`);
  if (ex.status === '2xx') assert.ok(res.status >= 200 && res.status < 300, `want 2xx: ${ctx}`);
  else if (ex.status !== undefined) assert.equal(res.status, ex.status, ctx);
  if (ex.error !== undefined) {
    assert.equal(res.body?.error, ex.error, ctx);
    assert.ok(typeof res.body.message === 'string' && res.body.message.length > 0, `message: ${ctx}`);
  }
  if (ex.message_contains !== undefined) {
    assert.ok(String(res.body?.message).toLowerCase().includes(String(ex.message_contains).toLowerCase()), ctx);
  }
  if (ex.ip !== undefined) assert.equal(res.body?.ip, ex.ip, ctx);
  if (ex.body_subset !== undefined) assert.ok(matches(res.body, ex.body_subset), `body_subset ${JSON.stringify(ex.body_subset)}: ${ctx}`);
  if (ex.blocks !== undefined) {
    const b = (await call(url, 'GET', '/blocks')).body;
    assert.equal(typeof b.revision, 'number');
    assert.ok(matches(b.blocks, ex.blocks), `blocks ${JSON.stringify(ex.blocks)} vs ${JSON.stringify(b.blocks)}`);
  }
  if (ex.hosts !== undefined) {
    const h = (await call(url, 'GET', '/hosts')).body;
    assert.equal(typeof h.revision, 'number');
    const want = (ex.hosts as unknown[]).map((x) => (typeof x === 'string' ? { name: x } : x));
    assert.ok(matches(h.hosts, want), `hosts ${JSON.stringify(want)} vs ${JSON.stringify(h.hosts)}`);
  }
  if (ex.blackouts !== undefined) {
    const b = (await call(url, 'GET', '/blackouts')).body;
    assert.ok(matches(b.blackouts, ex.blackouts), `blackouts ${JSON.stringify(b.blackouts)}`);
  }
  if (ex.groups !== undefined) {
    const t = (await call(url, 'GET', '/topology')).body as unknown as Parameters<typeof groupsOf>[0];
    checkGroups(t, ex.groups as Entry[]);
  }
}

const files = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();
const cases = files.map((f) => JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Case);

async function runCase(c: Case, opts: RomanadOptions) {
  const d = await startRomanad(opts);
  try {
    if (c.topology !== null) {
      const r = await call(d.url, 'POST', '/topology', c.topology);
      assert.ok(r.status >= 200 && r.status < 300, `POST /topology: ${r.status} ${JSON.stringify(r.body)}`);
    }
    for (const [i, step] of c.steps.entries()) {
      const { method, path, body, raw_body } = step.http;
      const res = await call(d.url, method, path, body, raw_body);
      await checkStep(d.url, step, res).catch((e: Error) => {
        e.message = `step ${i}: ${e.message}`;
        throw e;
      });
    }
  } finally {
    await d.stop();
  }
}

describe('IPAM conformance (REST, embedded store)', { concurrency: 3 }, () => {
  it('finds the public cases', () => assert.ok(cases.length >= 10, `only ${cases.length} cases in ${DIR}`));
  for (const c of cases) it(`${c.id}: ${c.description}`, () => runCase(c, {}));
});

describe('IPAM conformance (REST, etcd)', { concurrency: 3 }, () => {
  let etcd: EtcdServer;
  before(async () => { etcd = await startEtcd(); });
  after(() => etcd?.stop());
  // One real etcd for all cases; each case gets an empty store of its own under a unique key prefix.
  for (const c of cases) it(`${c.id}`, () => runCase(c, { etcdEndpoints: etcd.endpoint, etcdPrefix: `/case-${c.id}` }));
});
