// `GET /ipam/check` and `POST /ipam/repair` through the real API, on both store backends (embedded
// SQLite and a real etcd): agents' reports decide leaks, corrupted keys are found and repaired with
// compare-and-swap, and the conditional release refuses a record that changed.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { CheckReport, RepairReport } from '../../src/control/check.js';
import { Control } from '../../src/control/control.js';
import { StatusReporter, viaRomanad } from '../../src/agent/report.js';
import { ADDRESSES, BLOCKS, hostIpKey, hostKey, hostStatusKey, ipIndexKey } from '../../src/control/keys.js';
import { parseIp } from '../../src/core/net/ipv4.js';
import { buildApp } from '../../src/server/app.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';
import { type EtcdServer, startEtcd } from '../helpers/etcd.js';

interface Addr { name: string; ip: string; host: string; block: string; created_at?: string }

for (const backend of ['sqlite', 'etcd'] as const) {
  describe(`ipam check on ${backend}`, () => {
    let etcd: EtcdServer | undefined;
    let store: Store;
    let control: Control;
    let app: FastifyInstance;
    const req = async <T = any>(method: string, url: string, body?: unknown) => { // eslint-disable-line @typescript-eslint/no-explicit-any
      const r = await app.inject({ method: method as 'GET', url, ...(body !== undefined ? { payload: body as object } : {}) });
      return { status: r.statusCode, body: (r.body ? JSON.parse(r.body) : undefined) as T };
    };
    const ok = async <T = any>(method: string, url: string, body?: unknown) => { // eslint-disable-line @typescript-eslint/no-explicit-any
      const r = await req<T>(method, url, body);
      assert.ok(r.status === 200 || r.status === 201, `${method} ${url}: ${JSON.stringify(r.body)}`);
      return r.body;
    };
    const check = (q = '') => ok<CheckReport>('GET', `/ipam/check${q}`);
    const kinds = (r: CheckReport) => r.findings.map((f) => `${f.kind} ${f.subject}`).sort();
    const alloc = (name: string, host: string, ifname?: string) =>
      ok<Addr>('POST', '/address', { name, host, tenant: 't', ...(ifname ? { attributes: { host_ifname: ifname } } : {}) });

    before(async () => {
      if (backend === 'etcd') etcd = await startEtcd();
      store = await openStore(etcd ? { etcdEndpoints: [etcd.endpoint], namespace: `/check-${process.pid}` } : {});
      control = new Control(store);
      app = await buildApp({ control });
      await ok('POST', '/topology', { networks: [{ name: 'n', cidr: '10.1.0.0/16', block_mask: 29 }], topologies: [{ networks: ['n'], map: [{ groups: [] }, { groups: [] }, { groups: [] }] }] });
      for (const [h, ip] of [['h1', '192.168.9.1'], ['h2', '192.168.9.2'], ['h3', '192.168.9.3']]) await ok('POST', '/hosts', { name: h, ip });
    });
    after(async () => {
      await app?.close();
      await store?.close();
      await etcd?.stop();
    });

    it('a clean state: no findings; addresses without a host interface are counted as not judged', async () => {
      for (let i = 0; i < 10; i++) await alloc(`plain-${i}`, `h${(i % 3) + 1}`);
      const r = await check();
      assert.deepEqual(r.findings, []);
      assert.deepEqual(r.unjudged, [{ why: 'no host interface recorded (not a CNI endpoint)', count: 10 }]);
      assert.equal(r.summary.addresses, 10);
      assert.deepEqual(r.hosts.map((h) => [h.host, h.report]), [['h1', 'none'], ['h2', 'none'], ['h3', 'none']]);
      const a = await ok<Addr>('GET', '/address/plain-0');
      assert.ok(Math.abs(Date.parse(a.created_at!) - Date.now()) < 60_000, 'romanad stamps the allocation time');
    });

    it('leaked: only with a fresh report lacking the interface, after the grace period; other hosts are unknown', async () => {
      await alloc('live', 'h1', 'rmnlive');
      await alloc('gone', 'h1', 'rmngone');
      await alloc('elsewhere', 'h2', 'rmnh2');
      const st = await ok<{ received_at: string; interfaces: string[] }>('PUT', '/hosts/h1/status', { interfaces: ['lo', 'rmnlive', 'eth0'], last_applied_revision: 7 });
      assert.deepEqual(st.interfaces, ['eth0', 'lo', 'rmnlive']);
      assert.ok(Math.abs(Date.parse(st.received_at) - Date.now()) < 5000, 'romanad stamps the receive time');
      const young = await check();
      assert.deepEqual(kinds(young), [], 'within the grace period nothing is leaked');
      assert.ok(young.unjudged.some((u) => /too recently/.test(u.why)));
      const r = await check('?grace_seconds=0');
      assert.deepEqual(kinds(r), ['leaked gone']);
      assert.equal(r.findings[0].safe, true);
      assert.ok(r.unjudged.some((u) => u.why === 'its host has not reported' && u.count === 1), 'h2 has not reported: its endpoint is unknown, not leaked');
      assert.deepEqual(r.hosts.find((h) => h.host === 'h1'), { ...r.hosts.find((h) => h.host === 'h1'), report: 'fresh', last_applied_revision: 7, addresses: 6 });
      await new Promise((r) => setTimeout(r, 1100));
      const stale = await check('?grace_seconds=0&stale_seconds=1');
      assert.deepEqual(kinds(stale), [], 'a stale report judges nothing');
      assert.ok(stale.unjudged.some((u) => /older than 1 s/.test(u.why)));
      assert.equal(stale.hosts.find((h) => h.host === 'h1')!.report, 'stale');
    });

    it('bad reports are refused with the field named, and change nothing', async () => {
      const before = JSON.stringify((await store.list('/romana/host-status/')).items.map((i) => i.value));
      const bad = await req('PUT', '/hosts/h1/status', { interfaces: ['has space'], last_applied_revision: 1 });
      assert.equal(bad.status, 400);
      assert.match(JSON.stringify(bad.body), /interfaces\[0\]/);
      assert.equal((await req('PUT', '/hosts/h1/status', { interfaces: [] })).status, 400);
      const nohost = await req('PUT', '/hosts/nope/status', { interfaces: [], last_applied_revision: 1 });
      assert.equal(nohost.status, 404);
      assert.equal(JSON.stringify((await store.list('/romana/host-status/')).items.map((i) => i.value)), before);
    });

    it('the conditional release refuses a record that changed, and releases the one the caller saw', async () => {
      const a = await alloc('cond', 'h3');
      const stale = await req('POST', '/ipam/release', { name: 'cond', ip: a.ip, created_at: '2000-01-01T00:00:00.000Z' });
      assert.equal(stale.status, 409);
      assert.match(JSON.stringify(stale.body), /changed since it was read/);
      assert.equal((await ok<Addr>('GET', '/address/cond')).ip, a.ip);
      assert.equal((await ok<Addr>('POST', '/ipam/release', { name: 'cond', ip: a.ip, created_at: a.created_at })).name, 'cond');
      assert.equal((await req('GET', '/address/cond')).status, 404);
    });

    it('corrupted keys are found, and --repair fixes exactly the safe ones', async () => {
      const victim = await ok<Addr>('GET', '/address/plain-1');
      const other = await ok<Addr>('GET', '/address/plain-2');
      await store.delete(ipIndexKey(parseIp(victim.ip))); // index entry lost
      await store.put(ipIndexKey(parseIp('10.1.250.1')), 'nobody'); // index entry with no address
      // A block marks an extra offset with no address behind it, and forgets one in use.
      const blocks = (await store.list(BLOCKS)).items;
      const bkv = blocks.find((kv) => JSON.parse(kv.value).cidr === other.block && JSON.parse(kv.value).host === other.host)!;
      const b = JSON.parse(bkv.value) as { used: number[]; cidr: string };
      const off = parseIp(other.ip) - parseIp(b.cidr.split('/')[0]);
      await store.put(bkv.key, JSON.stringify({ ...b, used: [...b.used.filter((o) => o !== off), 7] }));
      // A host vanishes behind romanad's back, leaving its block and addresses.
      await store.delete(hostKey('h3'));
      await store.delete(hostIpKey(parseIp('192.168.9.3')));
      const h3Addrs = (await control.ipam.addresses()).filter((x) => x.host === 'h3').map((x) => x.name);
      assert.ok(h3Addrs.length > 0);

      const found = await check('?grace_seconds=0');
      const k = found.findings.map((f) => f.kind);
      for (const want of ['leaked', 'index_missing', 'index_dangling', 'count_mismatch', 'orphan_block']) assert.ok(k.includes(want as never), `${want} in ${k}`);
      assert.ok(found.findings.every((f) => f.safe));

      const r = await ok<RepairReport>('POST', '/ipam/repair', { grace_seconds: 0 });
      assert.deepEqual(r.findings, [], JSON.stringify(r.findings));
      assert.ok(r.repaired.filter((x) => x.result === 'repaired').length >= 5, JSON.stringify(r.repaired));
      const left = await control.ipam.addresses();
      assert.ok(!left.some((x) => x.name === 'gone'), 'the leaked address is released');
      assert.ok(left.some((x) => x.name === 'live'), 'the live one stays');
      assert.ok(!left.some((x) => h3Addrs.includes(x.name)), "the gone host's addresses are released");
      assert.equal((await store.get(ipIndexKey(parseIp(victim.ip))))?.value, 'plain-1', 'the index is restored');
      assert.equal(await store.get(ipIndexKey(parseIp('10.1.250.1'))), undefined);
      const blocksAfter = (await ok<{ blocks: { host: string; allocated_ip_count: number; cidr: string }[] }>('GET', '/blocks')).blocks;
      assert.ok(!blocksAfter.some((x) => x.host === 'h3'), "the gone host's block is freed");
      for (const x of blocksAfter) assert.equal(x.allocated_ip_count, left.filter((a) => a.block === x.cidr && a.host === x.host).length, `count of ${x.cidr}`);
      // A freed block is handed out again.
      await ok('POST', '/hosts', { name: 'h4', ip: '192.168.9.4' });
      assert.ok((await alloc('after', 'h4')).ip);
      assert.deepEqual((await check()).findings, []);
    });

    it('a duplicate IP is reported, not repaired; releasing the extra record leaves the other intact', async () => {
      const a = await alloc('dup-a', 'h1');
      await store.put(`${ADDRESSES}dup-b`, JSON.stringify({ ...a, name: 'dup-b' }));
      const r = await ok<RepairReport>('POST', '/ipam/repair', {});
      assert.deepEqual(kinds(r), [`duplicate_ip ${a.ip}`]);
      assert.equal(r.findings[0].safe, false);
      assert.deepEqual(r.repaired, []);
      await ok('DELETE', '/address?addressName=dup-b');
      assert.deepEqual((await check()).findings, [], 'the index and block slot stayed with dup-a');
      assert.equal((await ok<Addr>(`GET`, `/address/${a.ip}`)).name, 'dup-a');
    });

    it('a repair against a block that moved since the check is skipped, not forced', async () => {
      const a = await alloc('mv', 'h2');
      const bkv = (await store.list(BLOCKS)).items.find((kv) => JSON.parse(kv.value).cidr === a.block && JSON.parse(kv.value).host === 'h2')!;
      await alloc('mv2', 'h2'); // moves the block
      await assert.rejects(control.ipam.recountBlock(bkv.key, bkv.modRevision, [], []), /changed since it was read/);
      assert.ok((await store.get(bkv.key))!.value.includes('"used"'));
      assert.deepEqual((await check()).findings, []);
    });
  });
}

describe("the agent's status reporter, against romanad's API", () => {
  it('reports at start, on a change of interfaces or of the applied dataplane, and periodically; backs off while romanad is away', async () => {
    const store = await openStore({});
    const control = new Control(store);
    const app = await buildApp({ control });
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    await control.topology.replace({ networks: [{ name: 'n', cidr: '10.0.0.0/24' }], topologies: [{ networks: ['n'], map: [{ groups: [{ name: 'h', ip: '1.1.1.1' }] }] }] });
    let ifs = ['lo', 'rmn1'];
    const status = { last_applied_revision: 5, syncs_with_changes: 1 };
    const warnings: string[] = [];
    let sends = 0;
    const sink = viaRomanad({ baseUrl: url }, 'h');
    const r = new StatusReporter({
      send: (b) => (sends++, sink(b)), status: () => status, interfaces: () => ifs, pollMs: 20, intervalMs: 400,
      log: { info: () => undefined, warn: (_o, m) => warnings.push(m) },
    });
    const stored = async () => (await store.get(hostStatusKey('h')))?.value;
    const until = async (what: string, f: () => Promise<boolean> | boolean) => {
      for (let i = 0; i < 200 && !(await f()); i++) await new Promise((ok) => setTimeout(ok, 10));
      assert.ok(await f(), what);
    };
    try {
      r.start();
      await until('the first report', async () => (await stored())?.includes('rmn1') === true);
      assert.equal(JSON.parse((await stored())!).last_applied_revision, 5);
      const n = sends;
      await new Promise((ok) => setTimeout(ok, 150));
      assert.equal(sends, n, 'nothing changed: no report before the interval');
      ifs = ['lo', 'rmn1', 'rmn2'];
      await until('a report of the new interface', async () => (await stored())?.includes('rmn2') === true);
      status.syncs_with_changes = 2;
      status.last_applied_revision = 9;
      await until('a report after an applied change', async () => JSON.parse((await stored())!).last_applied_revision === 9);
      const at = JSON.parse((await stored())!).received_at;
      await until('a periodic report', async () => JSON.parse((await stored())!).received_at !== at);
      await app.close();
      ifs = ['lo'];
      await new Promise((ok) => setTimeout(ok, 300));
      assert.deepEqual(warnings, ['status report failed'], 'the failure is logged once, not on every poll');
      assert.ok(sends < 16, `backs off while romanad is away (${sends} sends)`);
    } finally {
      await r.stop();
      await app.close();
      await store.close();
    }
  });
});
