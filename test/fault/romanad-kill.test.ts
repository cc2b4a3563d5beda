// kill -9 of one of two romanads on one real etcd during 500 concurrent allocations. Clients whose
// request died retry under the same name (as a CNI runtime retries ADD); the hosts report every
// endpoint's interface; then the real CLI, `romana ipam check -o json`, must find nothing: no
// duplicate, no count mismatch, no leak; and every allocation a client saw succeed is there, same IP.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { CheckReport } from '../../src/control/check.js';
import { type EtcdServer, startEtcd } from '../helpers/etcd.js';
import { BIN, type Romanad, startRomanad } from '../helpers/romanad.js';

const N = 500;
const HOSTS = 4;
const KILL_AFTER = 120; // completed allocations before the kill: the rest are in flight or not sent yet

interface Addr { name: string; ip: string; host: string }

describe('kill -9 of a romanad during concurrent allocations', () => {
  let etcd: EtcdServer;
  let a: Romanad;
  let b: Romanad;
  const prefix = `/kill-${process.pid}`;
  before(async () => {
    etcd = await startEtcd();
    [a, b] = await Promise.all([startRomanad({ etcdEndpoints: etcd.endpoint, etcdPrefix: prefix }), startRomanad({ etcdEndpoints: etcd.endpoint, etcdPrefix: prefix })]);
    await a.api.post('/topology', {
      networks: [{ name: 'n', cidr: '10.0.0.0/16', block_mask: 28 }],
      topologies: [{ networks: ['n'], map: [{ groups: [] }, { groups: [] }] }],
    });
    for (let i = 0; i < HOSTS; i++) await a.api.post('/hosts', { name: `h${i}`, ip: `192.168.1.${i + 1}` });
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await etcd?.stop();
  });

  it(`${N} allocations through two romanads, one killed mid-way and restarted: ipam check finds nothing wrong`, async (t) => {
    const body = (i: number) => ({ name: `pod-${i}`, host: `h${i % HOSTS}`, tenant: `t${i % 3}`, attributes: { host_ifname: `v${i}` } });
    const post = async (url: string, i: number) => {
      const res = await fetch(`${url}/address`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body(i)) });
      return { status: res.status, body: (await res.json()) as Addr };
    };
    const seen = new Map<string, Addr>(); // what clients saw succeed
    const died: number[] = [];
    let done = 0;
    let killing: Promise<void> | undefined;
    const aUrl = a.url;
    await Promise.all(Array.from({ length: N }, async (_, i) => {
      try {
        const r = await post(i % 2 ? aUrl : b.url, i);
        assert.equal(r.status, 201, JSON.stringify(r.body));
        seen.set(r.body.name, r.body);
      } catch (e) {
        if (e instanceof assert.AssertionError) throw e;
        died.push(i); // the connection died with romanad: the outcome is unknown to this client
      }
      if (++done === KILL_AFTER) killing = a.kill();
    }));
    await killing;
    assert.ok(a.proc.signalCode === 'SIGKILL', 'romanad a was killed');
    assert.ok(died.length > 0, 'some requests were in flight at the kill');
    assert.ok(seen.size >= KILL_AFTER);

    // Restart it on the same etcd; the clients that lost their answer retry under the same name.
    a = await startRomanad({ etcdEndpoints: etcd.endpoint, etcdPrefix: prefix });
    const retried = new Map<string, Addr>();
    let committedUnseen = 0;
    for (const i of died) {
      const r = await post(a.url, i);
      if (r.status === 201) retried.set(r.body.name, r.body);
      else {
        assert.equal((r.body as unknown as { error: string }).error, 'exists', JSON.stringify(r.body)); // it had committed before the kill
        committedUnseen++;
        retried.set(`pod-${i}`, await a.api.get<Addr>(`/address/pod-${i}`));
      }
    }

    t.diagnostic(`${seen.size} answered; ${died.length} lost their answer with the kill, of which ${committedUnseen} had committed`);

    // Every pod exists: each host reports the interfaces of its pods.
    for (let h = 0; h < HOSTS; h++) {
      const ifs = Array.from({ length: N }, (_, i) => i).filter((i) => i % HOSTS === h).map((i) => `v${i}`);
      await b.api.put(`/hosts/h${h}/status`, { interfaces: ifs, last_applied_revision: 1 });
    }
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((ok) =>
      execFile(process.execPath, [BIN('romana'), '--api', a.url, '-o', 'json', 'ipam', 'check', '--grace', '0'], (err, stdout, stderr) =>
        ok({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr })));
    assert.equal(code, 0, `romana ipam check exit ${code}: ${stderr}\n${stdout.slice(0, 2000)}`);
    const report = JSON.parse(stdout) as CheckReport;
    assert.deepEqual(report.findings, [], 'no duplicate, no count mismatch, no leak, nothing else');
    assert.equal(report.summary.addresses, N);
    assert.equal(report.summary.unjudged, 0, `every address was judged (live): ${JSON.stringify(report.unjudged)}`);
    assert.deepEqual(report.hosts.map((h) => h.report), Array(HOSTS).fill('fresh'));

    const stored = new Map((await b.api.get<{ addresses: Addr[] }>('/addresses')).addresses.map((x) => [x.name, x.ip]));
    for (const [name, x] of [...seen, ...retried]) assert.equal(stored.get(name), x.ip, `${name} is stored with the IP its client saw`);
    assert.equal(new Set(stored.values()).size, N, 'distinct IPs');
  });
});
